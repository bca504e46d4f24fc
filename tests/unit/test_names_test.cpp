// Every test must reach ctest as exactly one entry. catch_discover_tests passes names through
// CMake lists and Catch filters: ';' splits a name into several entries and '[' ']' start a
// bracket argument, and Catch 2 passes a filter that matches nothing. A bad name once hid most
// of the suite from ctest (it reported 80 tests, all passed, while 315 existed).
#include <catch2/catch.hpp>

#include <string>

TEST_CASE("test names are safe to register with ctest", "[unit]") {
  const auto& tests = Catch::getRegistryHub().getTestCaseRegistry().getAllTests();
  REQUIRE(tests.size() > 100);
  for (const auto& t : tests) {
    INFO("test name: " << t.name);
    CHECK(t.name.find_first_of(";[]\\\"") == std::string::npos);
  }
}
