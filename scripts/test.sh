#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test (ctest).
# Extra arguments go to ctest, e.g. scripts/test.sh -R Attention
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
build_dir=${ATTNORACLE_BUILD_DIR:-build}
cd "$build_dir"
ctest --output-on-failure --timeout 600 -j2 "$@"
