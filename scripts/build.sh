#!/usr/bin/env bash
# Installs what is missing, then configures and builds AttnOracle into build/
# (binaries in build/bin/), showing ninja's progress.
#   scripts/build.sh                                  # everything (tests, fuzz replays, benchmarks)
#   scripts/build.sh --only oracle-server,oracle-client   # just these targets and what they need
#   scripts/build.sh -DATTNORACLE_NATIVE=OFF          # extra arguments go to cmake
# ATTNORACLE_BUILD_DIR picks another build directory.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=()
if [ "${1:-}" = "--only" ]; then
  [ -n "${2:-}" ] || { echo "build.sh: --only needs TARGET[,TARGET...]" >&2; exit 2; }
  IFS=, read -r -a targets <<<"$2"
  shift 2
fi
scripts/deps.sh
build_dir=${ATTNORACLE_BUILD_DIR:-build}
# cmake's report is long and says nothing a user needs; its errors go to
# stderr all the same.
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
# On a terminal ninja keeps one progress line ([done/total] what); in a log
# it prints one line per step.
ninja -C "$build_dir" "${targets[@]}"
