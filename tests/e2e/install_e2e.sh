#!/usr/bin/env bash
# Installs the build tree's AttnOracle package into a temporary prefix,
# builds a copy of client/examples against it alone (find_package), with
# the project's warnings as errors, and runs example_e2e.sh on the result.
# Usage: install_e2e.sh BUILD_DIR REPO_ROOT ORACLE_SERVER ORACLE_CLIENT
#                       CXX_COMPILER CXX_FLAGS [COMPILER_LAUNCHER]
set -euo pipefail
build_dir=$1
repo=$2
server_bin=$3
client_bin=$4
cxx=$5
cxx_flags=$6
launcher=${7:-}
source "$repo/tests/e2e/e2e_lib.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$SECONDS

cmake --install "$build_dir" --prefix "$work/prefix" >"$work/install.log"
check "the package's libraries, and no server code" test \
  "$(cd "$work/prefix/lib" && echo *.a)" = \
  "libattnoracle_client.a libattnoracle_client_files.a libattnoracle_common.a libattnoracle_grpc.a libattnoracle_grpc_status.a libattnoracle_learners.a libattnoracle_proto.a"
check "no server headers" test -z "$(find "$work/prefix" -name '*server*')"
check "config and version files" test \
  -f "$work/prefix/lib/cmake/AttnOracle/AttnOracleConfig.cmake" -a \
  -f "$work/prefix/lib/cmake/AttnOracle/AttnOracleConfigVersion.cmake"

# A copy, as a user would take it: nothing of the source tree is reachable.
cp -r "$repo/client/examples" "$work/src"
cmake -S "$work/src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_CXX_FLAGS="$cxx_flags" -DCMAKE_CXX_COMPILER_LAUNCHER="$launcher" \
  >"$work/configure.log" || { cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" >"$work/build.log" ||
  { cat "$work/build.log"; exit 1; }
echo "installed and built out of tree in $((SECONDS - start)) s"

finish
bash "$repo/tests/e2e/example_e2e.sh" "$work/build/my_learner" \
  "$server_bin" "$client_bin" "$repo"
