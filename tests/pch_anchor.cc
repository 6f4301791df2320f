// The one source of attnoracle_test_pch, the target that builds the
// precompiled header the test executables reuse (tests/CMakeLists.txt).
