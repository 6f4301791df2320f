#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (ctest).
#   scripts/test.sh                 # optimised build in build/
#   scripts/test.sh --sanitize      # ASan + UBSan build in build-asan/
# Further arguments go to ctest, e.g. scripts/test.sh -R Attention
set -euo pipefail
cd "$(dirname "$0")/.."
cmake_args=()
ctest_args=()
if [ "${1:-}" = "--sanitize" ]; then
  shift
  # The soak measures the real binaries for 90 s; once, in the optimised
  # build, is enough.
  ctest_args=(-LE soak)
  # GCC 12 reports false -Wuninitialized errors in its AVX-512 headers under
  # the sanitizers, so this build is portable (no -march=native).
  export ATTNORACLE_BUILD_DIR=${ATTNORACLE_BUILD_DIR:-build-asan}
  cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DATTNORACLE_SANITIZE=ON
              -DATTNORACLE_NATIVE=OFF)
fi
scripts/build.sh "${cmake_args[@]}"
cd "${ATTNORACLE_BUILD_DIR:-build}"
ctest --output-on-failure --timeout 600 -j2 "${ctest_args[@]}" "$@"
