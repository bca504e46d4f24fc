# Writes the first ```cpp block under README.md's "## Using it" heading to a C++ source file, so
# the program a user copies from the README is the one the tests build and run
# (tests/CMakeLists.txt, tests/integration/readme_example_test.cpp).
#
#   cmake -DREADME=path/README.md -DOUTPUT=path/readme_using_it.cpp -P ExtractReadmeExample.cmake
#
# A #line directive points compiler messages at README.md's own lines. Fails, naming what it
# looked for, when the heading or the block is missing, so the test cannot quietly build nothing.
if(NOT README OR NOT OUTPUT)
  message(FATAL_ERROR "usage: cmake -DREADME=... -DOUTPUT=... -P ExtractReadmeExample.cmake")
endif()
file(READ "${README}" text)
set(heading "\n## Using it\n")
string(FIND "${text}" "${heading}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${README}: no \"## Using it\" heading")
endif()
string(LENGTH "${heading}" heading_length)
math(EXPR section_start "${at} + ${heading_length}")
string(SUBSTRING "${text}" ${section_start} -1 section)

set(fence "\n```cpp\n")
string(FIND "\n${section}" "${fence}" block)
string(FIND "\n${section}" "\n## " next_heading)
if(block EQUAL -1 OR (NOT next_heading EQUAL -1 AND next_heading LESS block))
  message(FATAL_ERROR "${README}: no ```cpp block under \"## Using it\"")
endif()
string(LENGTH "${fence}" fence_length)
# `block` counts the "\n" prepended above: the code starts fence_length - 1 characters after it.
math(EXPR code_start "${block} + ${fence_length} - 1")
string(SUBSTRING "${section}" ${code_start} -1 rest)
string(FIND "${rest}" "\n```" code_end)
if(code_end EQUAL -1)
  message(FATAL_ERROR "${README}: the ```cpp block under \"## Using it\" is not closed")
endif()
math(EXPR code_end "${code_end} + 1")  # keep the last line's newline
string(SUBSTRING "${rest}" 0 ${code_end} code)

# The README line the code starts on: newlines before it, plus one.
math(EXPR absolute "${section_start} + ${code_start}")
string(SUBSTRING "${text}" 0 ${absolute} before)
string(REGEX MATCHALL "\n" newlines "${before}")
list(LENGTH newlines line)
math(EXPR line "${line} + 1")

file(WRITE "${OUTPUT}"
     "// Generated from ${README} (\"## Using it\") by cmake/ExtractReadmeExample.cmake.\n"
     "// Edit the README, not this file.\n"
     "#line ${line} \"README.md\"\n"
     "${code}")
