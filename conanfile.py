"""Conan 2 recipe for examstore: the project's own CMake build and install.

    conan create . --build=missing                                  # static (the default)
    conan create . --build=missing -o "examstore/*:shared=True"     # shared

Consumers then write find_package(examstore CONFIG REQUIRED) and link examstore::examstore,
as with a plain `cmake --install` (docs/packaging.md).
"""
import os

from conan import ConanFile
from conan.errors import ConanInvalidConfiguration
from conan.tools.build import check_min_cppstd
from conan.tools.cmake import CMake, CMakeDeps, CMakeToolchain, cmake_layout
from conan.tools.files import copy, rmdir
from conan.tools.gnu import PkgConfigDeps

required_conan_version = ">=2.0"


class ExamstoreConan(ConanFile):
    name = "examstore"
    # The CMake project version is the source of truth; scripts/check-packaging.sh fails when
    # this differs from it.
    version = "0.1.0"
    description = "Redis + PostgreSQL storage for online exam platforms"
    license = "Apache-2.0"
    topics = ("redis", "postgresql", "cache", "write-behind", "exam")
    package_type = "library"
    settings = "os", "arch", "compiler", "build_type"
    # No fPIC option: the library is always compiled as position-independent code.
    options = {"shared": [True, False]}
    # hiredis with TLS (hiredis_ssl), for rediss:// URLs.
    default_options = {"shared": False, "boost/*:header_only": True, "hiredis/*:with_ssl": True}
    exports_sources = "CMakeLists.txt", "LICENSE", "cmake/*", "include/*", "src/*"

    # The options scripts/consumer-test.sh builds and tests the install with (plus
    # BUILD_SHARED_LIBS and the build type, which come from options.shared and
    # settings.build_type); scripts/check-packaging.sh fails when they differ.
    _cmake_options = {
        "EXAMSTORE_BUILD_TESTS": "OFF",
        "EXAMSTORE_BUILD_EXAMPLES": "OFF",
        "EXAMSTORE_BUILD_BENCHMARKS": "OFF",
        "EXAMSTORE_WERROR": "OFF",
    }

    def layout(self):
        cmake_layout(self)

    def requirements(self):
        # Linked PRIVATE: only a static examstore passes them on to the consumer's link. The
        # lower bounds are the versions CI builds and tests against (libpqxx 7.10.0, hiredis
        # 1.2.0, from Debian 13's sources: docs/packaging.md); Debian 12's libpqxx 6.4 and hiredis
        # 0.14 are tested too, but Conan Center does not carry them.
        self.requires("hiredis/[>=1.2 <2]")
        self.requires("libpqxx/[>=7.10 <8]")
        self.requires("libpq/[>=15 <18]")
        self.requires("libsodium/[>=1.0.18 <2]")
        # Redis TLS: src/cache/redis/redis_tls.cpp makes its own SSL objects (server name check).
        self.requires("openssl/[>=1.1.1 <4]")
        self.requires("fmt/[>=9 <11]")
        self.requires("boost/[>=1.74 <2]")  # Asio only, header-only

    def build_requirements(self):
        self.tool_requires("cmake/[>=3.25 <4]")
        # hiredis (and hiredis_ssl), libpqxx, libpq, libsodium and openssl are found with
        # pkg_check_modules (PkgConfigDeps).
        self.tool_requires("pkgconf/[>=2.1 <3]")

    def validate(self):
        check_min_cppstd(self, 17)
        if self.settings.os != "Linux":
            raise ConanInvalidConfiguration("examstore is built and tested on Linux only")

    def generate(self):
        toolchain = CMakeToolchain(self)
        for name, value in self._cmake_options.items():
            toolchain.cache_variables[name] = value
        toolchain.generate()
        CMakeDeps(self).generate()
        PkgConfigDeps(self).generate()

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def package(self):
        copy(self, "LICENSE", src=self.source_folder,
             dst=os.path.join(self.package_folder, "licenses"))
        cmake = CMake(self)
        cmake.install()
        # Conan generates the consumers' CMake config and .pc from package_info() below, with
        # the dependencies' paths in the Conan cache; the installed ones would look for them
        # on the system.
        rmdir(self, os.path.join(self.package_folder, "lib", "cmake"))
        rmdir(self, os.path.join(self.package_folder, "lib", "pkgconfig"))

    def package_info(self):
        self.cpp_info.set_property("cmake_file_name", "examstore")
        self.cpp_info.set_property("cmake_target_name", "examstore::examstore")
        self.cpp_info.set_property("pkg_config_name", "examstore")
        self.cpp_info.libs = ["examstore"]
        self.cpp_info.requires = [
            "hiredis::hiredis",
            "libpqxx::libpqxx",
            "libpq::libpq",
            "libsodium::libsodium",
            "openssl::ssl",
            "fmt::fmt",
            "boost::headers",
        ]
        self.cpp_info.system_libs = ["pthread", "m"]
