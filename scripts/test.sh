#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (ctest).
#   scripts/test.sh                 # optimised build in build/
#   scripts/test.sh --sanitize      # ASan + UBSan build (clang, with the
#                                   # thread-safety analysis) in build-asan/
#   scripts/test.sh --build-only    # (either form) build, run nothing
# Further arguments go to ctest, e.g. scripts/test.sh -R Attention
set -euo pipefail
cd "$(dirname "$0")/.."
cmake_args=()
build_only=false
if [ "${1:-}" = "--build-only" ]; then
  build_only=true
  shift
fi
if [ "${1:-}" = "--sanitize" ]; then
  shift
  # What measures the real binaries (the soak, the benchmark's smoke runs)
  # runs once, in the optimised build; the fuzz targets' corpora are
  # replayed by scripts/fuzz.sh under the same sanitizers. This build has
  # neither, and compiles less for it.
  # clang, not GCC: at -O2 it compiles this code under the sanitizers in
  # half GCC's time, and its thread-safety analysis of the lock annotations
  # (-Wthread-safety, an error like every warning) comes with the build.
  # Line tables are all a report's stack needs. Portable code (no
  # -march=native), so a report replays on any machine.
  scripts/deps.sh fuzz
  export CC=clang CXX=clang++
  export ATTNORACLE_BUILD_DIR=${ATTNORACLE_BUILD_DIR:-build-asan}
  cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo
              "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -gline-tables-only -DNDEBUG"
              -DATTNORACLE_SANITIZE=ON -DATTNORACLE_THREAD_SAFETY=ON
              -DATTNORACLE_NATIVE=OFF -DATTNORACLE_BUILD_BENCH=OFF)
fi
if [ "${1:-}" = "--build-only" ]; then
  build_only=true
  shift
fi
scripts/build.sh "${cmake_args[@]}"
"$build_only" && exit 0
cd "${ATTNORACLE_BUILD_DIR:-build}"
ctest --output-on-failure --timeout 600 -j2 "$@"
