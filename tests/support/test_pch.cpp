// The precompiled header of the tests is built with this empty source (tests/CMakeLists.txt).
