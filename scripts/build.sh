#!/usr/bin/env bash
# Installs what is missing, then configures and builds AttnOracle into build/
# (binaries in build/bin/). Extra arguments go to cmake, e.g.
#   scripts/build.sh -DATTNORACLE_NATIVE=OFF
# ATTNORACLE_BUILD_DIR picks another build directory.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
build_dir=${ATTNORACLE_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
ninja -C "$build_dir" --quiet
