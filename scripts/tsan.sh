#!/usr/bin/env bash
# Builds the tests of the core's concurrent paths (ctest label
# "concurrency": budgets, group commit, transcripts, phases, submission
# limits, the forward pass's helper threads) with ThreadSanitizer into
# build-tsan/ and runs them.
#   scripts/tsan.sh                 # every test labelled concurrency
#   scripts/tsan.sh -R Ledger       # further arguments go to ctest
#   scripts/tsan.sh --build-only    # build them, run nothing
# Any report fails the test (halt_on_error). Reports from inside Debian's
# uninstrumented gRPC are suppressed by tests/tsan.supp, nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
build_dir=build-tsan
# GCC's ThreadSanitizer; no -march=native (GCC 12 reports false
# -Wuninitialized errors in its AVX-512 headers under the sanitizers).
# Line tables (-g1) are all a report's stack needs, and compile quicker
# than full debug information.
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" \
  -DATTNORACLE_TSAN=ON -DATTNORACLE_NATIVE=OFF >/dev/null
# Only the executables of the tests labelled concurrency in
# tests/CMakeLists.txt: the rest of the tree is not built.
ninja -C "$build_dir" --quiet ledger_test oracle_core_test \
  competition_service_test submit_service_test work_pool_test \
  task_pool_test postgres_ledger_test
[ "${1:-}" = "--build-only" ] && exit 0
export TSAN_OPTIONS="suppressions=$PWD/tests/tsan.supp:halt_on_error=1:second_deadlock_stack=1"
cd "$build_dir"
# Of the tests labelled postgres only the shared-store ledger's is built
# here.
ctest -L 'concurrency|postgres' --output-on-failure --timeout 600 -j2 "$@"
