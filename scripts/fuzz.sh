#!/usr/bin/env bash
# Builds the fuzz targets (tests/fuzz) with clang, libFuzzer, ASan and UBSan
# into build-fuzz/ and runs each for a bounded time, two at a time (one per
# core), on a scratch copy of its checked-in corpus so the repository's
# corpus is never changed.
#   scripts/fuzz.sh          # 60 seconds per target
#   scripts/fuzz.sh 600      # longer runs
#   scripts/fuzz.sh --build-only   # build them, run nothing
# Prints the executions per target and exits non-zero when any target
# crashed or broke an invariant, naming the input that did it (kept under
# $ATTNORACLE_FUZZ_OUT, default build-fuzz/findings/).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
build_only=false
if [ "$seconds" = "--build-only" ]; then
  build_only=true
fi
scripts/deps.sh fuzz

build_dir=build-fuzz
# -O1 without NDEBUG: the assertions of the project and of Eigen (index
# bounds) stay on, and the build stays quick; line tables are all a
# finding's stack needs. The lock annotations are
# checked on the way (-Wthread-safety, as in the sanitizer build). No
# -march=native: the findings must replay on any machine.
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DATTNORACLE_FUZZ=ON -DATTNORACLE_THREAD_SAFETY=ON -DATTNORACLE_NATIVE=OFF \
  >/dev/null
ninja -C "$build_dir" --quiet
"$build_only" && exit 0

targets=(request challenge_config hypothesis transcript)
# Per input: 10 s before it counts as a hang; 2 GiB of memory before it
# counts as a leak of memory or an allocation bomb.
timeout_seconds=10
rss_limit_mb=2048
out=${ATTNORACLE_FUZZ_OUT:-$build_dir/findings}
mkdir -p "$out"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
symbolizer=$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)
export ASAN_SYMBOLIZER_PATH=${symbolizer}
export UBSAN_OPTIONS=print_stacktrace=1

run_target() {
  local name=$1
  mkdir -p "$scratch/$name" "$out/$name"
  cp tests/fuzz/corpus/"$name"/* "$scratch/$name/"
  "$build_dir/bin/${name}_fuzzer" "$scratch/$name" \
    -max_total_time="$seconds" -timeout="$timeout_seconds" \
    -rss_limit_mb="$rss_limit_mb" -print_final_stats=1 \
    -artifact_prefix="$out/$name/" >"$scratch/$name.log" 2>&1
}

declare -A status
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  pids=()
  for name in "${targets[@]:i:2}"; do
    run_target "$name" &
    pids+=("$name:$!")
  done
  for entry in "${pids[@]}"; do
    rc=0
    wait "${entry#*:}" || rc=$?
    status[${entry%%:*}]=$rc
  done
done

failed=0
printf '%-18s %12s %8s  %s\n' target executions corpus result
for name in "${targets[@]}"; do
  log=$scratch/$name.log
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  corpus=$(find "$scratch/$name" -type f | wc -l)
  if [ "${status[$name]}" -eq 0 ]; then
    result=ok
  else
    failed=1
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    result="FAILED (exit ${status[$name]}): input ${artifact:-unknown}"
    cp "$log" "$out/$name/log"
  fi
  printf '%-18s %12s %8s  %s\n' "$name" "${runs:-?}" "$corpus" "$result"
done
if [ "$failed" -ne 0 ]; then
  for name in "${targets[@]}"; do
    [ "${status[$name]}" -eq 0 ] && continue
    echo
    echo "== $name ($out/$name/log)"
    grep -E -A40 'ERROR: |invariant violated|runtime error' "$out/$name/log" |
      head -60
  done
  exit 1
fi
