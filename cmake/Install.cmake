# Installs the library, its public headers and the examstore tool, with a CMake package config
# (find_package(examstore CONFIG)) that finds the private dependencies of a static build itself.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS examstore EXPORT examstoreTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        PUBLIC_HEADER DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/examstore)
install(TARGETS examstore_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT examstoreTargets NAMESPACE examstore::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/examstore)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/examstoreConfig.cmake.in
    ${PROJECT_BINARY_DIR}/examstoreConfig.cmake
    INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/examstore)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/examstoreConfigVersion.cmake
    COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/examstoreConfig.cmake
              ${PROJECT_BINARY_DIR}/examstoreConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/examstore)
