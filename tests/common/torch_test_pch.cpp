// Owner of the precompiled header that the model/ and train/ suites reuse (tests/CMakeLists.txt).
