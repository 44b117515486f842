# Strict warnings for project code; generated and third-party headers come in as SYSTEM.
add_library(laby_warnings INTERFACE)
target_compile_options(laby_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Wunused -Woverloaded-virtual -Wconversion -Wsign-conversion
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(laby_warnings INTERFACE -Wmisleading-indentation -Wduplicated-cond
    -Wduplicated-branches -Wlogical-op)
endif()
option(LABYRINTH_WERROR "Treat warnings as errors" ON)
if(LABYRINTH_WERROR)
  target_compile_options(laby_warnings INTERFACE -Werror)
endif()
