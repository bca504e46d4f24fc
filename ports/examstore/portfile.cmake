# vcpkg overlay port: builds the examstore source tree this folder sits in.
#   vcpkg install examstore --overlay-ports=<examstore checkout>/ports
# A port for a registry would fetch a tagged release instead of the checkout:
#   vcpkg_from_github(OUT_SOURCE_PATH SOURCE_PATH REPO <owner>/examstore REF "v${VERSION}"
#                     SHA512 <sha512 of the archive> HEAD_REF main)
get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)

# hiredis (and hiredis_ssl), libpqxx, libpq, libsodium and openssl are found through their .pc
# files in the installed tree, as on Debian (RECIPES: no usable CMake config), so the build needs
# a pkg-config.
vcpkg_find_acquire_program(PKGCONFIG)
set(ENV{PKG_CONFIG} "${PKGCONFIG}")

# The EXAMSTORE_* options are the ones scripts/consumer-test.sh builds and tests the install with;
# scripts/check-packaging.sh fails when they differ. BUILD_SHARED_LIBS and the build types come
# from the triplet.
vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        -DEXAMSTORE_BUILD_TESTS=OFF
        -DEXAMSTORE_BUILD_EXAMPLES=OFF
        -DEXAMSTORE_BUILD_BENCHMARKS=OFF
        -DEXAMSTORE_WERROR=OFF
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(PACKAGE_NAME examstore CONFIG_PATH lib/cmake/examstore)
vcpkg_fixup_pkgconfig()
vcpkg_copy_tools(TOOL_NAMES examstore AUTO_CLEAN)

file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug/include")
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
