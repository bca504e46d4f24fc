# Installs what a consumer needs (docs/packaging.md):
#   include/examstore/*.hpp                     the explicit public header list (PUBLIC_HEADER)
#   lib/libexamstore.{a,so}, bin/examstore      the library and the tool
#   lib/cmake/examstore/                        find_package(examstore CONFIG): config, version
#                                               file (SameMajorVersion), exported targets
#                                               (examstore::examstore)
#   lib/pkgconfig/examstore.pc                  pkg-config
# scripts/consumer-test.sh builds a consumer against an installed prefix, static and shared.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(EXAMSTORE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/examstore)
get_target_property(_examstore_type examstore TYPE)

# The installed tool finds a shared libexamstore next to it wherever the prefix is moved;
# system libraries still come from the loader's default paths.
if(_examstore_type STREQUAL "SHARED_LIBRARY" AND NOT APPLE)
  file(RELATIVE_PATH _examstore_bin_to_lib
       /prefix/${CMAKE_INSTALL_BINDIR} /prefix/${CMAKE_INSTALL_LIBDIR})
  set_target_properties(examstore_cli PROPERTIES INSTALL_RPATH "$ORIGIN/${_examstore_bin_to_lib}")
endif()
# Client libraries linked from outside the loader's default paths (a private prefix, as
# scripts/newer-deps.sh makes) are still found by the installed library and tool.
set_target_properties(examstore examstore_cli PROPERTIES INSTALL_RPATH_USE_LINK_PATH TRUE)

install(TARGETS examstore EXPORT examstoreTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        PUBLIC_HEADER DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/examstore)
install(TARGETS examstore_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT examstoreTargets NAMESPACE examstore:: FILE examstoreTargets.cmake
        DESTINATION ${EXAMSTORE_CMAKE_DIR})

# The config finds the private dependencies only for a static library: a shared one carries
# them itself, so its consumers need none of their -dev packages.
if(_examstore_type STREQUAL "STATIC_LIBRARY")
  set(EXAMSTORE_PACKAGE_STATIC ON)
else()
  set(EXAMSTORE_PACKAGE_STATIC OFF)
endif()
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/examstoreConfig.cmake.in
    ${PROJECT_BINARY_DIR}/examstoreConfig.cmake
    INSTALL_DESTINATION ${EXAMSTORE_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/examstoreConfigVersion.cmake
    VERSION ${PROJECT_VERSION}
    COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/examstoreConfig.cmake
              ${PROJECT_BINARY_DIR}/examstoreConfigVersion.cmake
        DESTINATION ${EXAMSTORE_CMAKE_DIR})

# pkg-config. The paths are relative to the .pc file (${pcfiledir}), so the file stays right
# when the prefix is chosen at install time (cmake --install --prefix), with DESTDIR, and when
# the installed tree is moved; absolute install dirs are written as given.
set(_examstore_pc_dir ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(EXAMSTORE_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(EXAMSTORE_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(EXAMSTORE_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  file(RELATIVE_PATH _examstore_pc_up /prefix/${_examstore_pc_dir} /prefix)
  string(REGEX REPLACE "/$" "" _examstore_pc_up "${_examstore_pc_up}")
  set(EXAMSTORE_PC_PREFIX "\${pcfiledir}/${_examstore_pc_up}")
  set(EXAMSTORE_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(EXAMSTORE_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
# libpq is named in Libs.private rather than Requires.private: Debian's libpq.pc lists
# -lpgcommon -lpgport -lgssapi_krb5 -lldap in its own Libs.private, libraries Debian does not
# put on the linker path, so `pkg-config --static` through libpq.pc gives a link line that
# cannot link. libpq.so carries those itself. Its -L comes from the libpq.pc we built with,
# unless the linker searches that folder anyway.
set(EXAMSTORE_PC_LIBPQ "")
foreach(_examstore_dir IN LISTS PQ_LIBRARY_DIRS)
  if(NOT _examstore_dir IN_LIST CMAKE_CXX_IMPLICIT_LINK_DIRECTORIES)
    string(APPEND EXAMSTORE_PC_LIBPQ "-L${_examstore_dir} ")
  endif()
endforeach()
string(APPEND EXAMSTORE_PC_LIBPQ "-lpq")
# Redis TLS: hiredis_ssl and OpenSSL, when this build uses them.
set(EXAMSTORE_PC_TLS_REQUIRES "")
if(EXAMSTORE_HAVE_HIREDIS_SSL)
  set(EXAMSTORE_PC_TLS_REQUIRES ", hiredis_ssl >= 1.0, openssl >= 1.1.1")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/examstore.pc.in ${PROJECT_BINARY_DIR}/examstore.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/examstore.pc DESTINATION ${_examstore_pc_dir})
