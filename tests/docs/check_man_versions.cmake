# cmake -DSOURCE_DIR=... -DVERSION=... -P check_man_versions.cmake
# The version is defined once, in project(labyrinth VERSION ...); every man page's .TH line
# must name it ("labyrinth X.Y.Z").
file(GLOB_RECURSE pages "${SOURCE_DIR}/man/*.[1-8]")
if(NOT pages)
  message(FATAL_ERROR "no man pages under ${SOURCE_DIR}/man")
endif()
set(bad "")
foreach(p IN LISTS pages)
  file(STRINGS "${p}" th REGEX "^\\.TH ")
  if(NOT th MATCHES "\"labyrinth ([^\"]*)\"")
    string(APPEND bad "\n  ${p}: no \"labyrinth VERSION\" in its .TH line")
  elseif(NOT CMAKE_MATCH_1 STREQUAL VERSION)
    string(APPEND bad "\n  ${p}: .TH says ${CMAKE_MATCH_1}, CMakeLists.txt says ${VERSION}")
  endif()
endforeach()
if(bad)
  message(FATAL_ERROR "man pages out of step with the project version:${bad}")
endif()
