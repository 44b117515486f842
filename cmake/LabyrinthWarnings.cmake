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
# -Werror where the compiler is the one the code is checked with: CI (the CI environment
# variable is set) and scripts/build.sh (which passes -DLABYRINTH_WERROR=ON). Off by default
# elsewhere, so that a packager's newer compiler with new warnings still builds.
if(DEFINED ENV{CI})
  set(labyrinth_werror_default ON)
else()
  set(labyrinth_werror_default OFF)
endif()
option(LABYRINTH_WERROR "Treat warnings as errors (default: ON when the CI variable is set)" ${labyrinth_werror_default})
if(LABYRINTH_WERROR)
  target_compile_options(laby_warnings INTERFACE -Werror)
endif()
