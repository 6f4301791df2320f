#!/usr/bin/env bash
# The README's main command, scripts/demo.sh, on binaries already built: it
# prints commands that can be typed as shown, a scoreboard that explains its
# columns, and, when a learner fails, what the learner said (exit 1).
# Usage: demo_e2e.sh BUILD_DIR REPO_ROOT
set -euo pipefail
build_dir=$1
repo=$2
source "$repo/tests/e2e/e2e_lib.sh"
demo() {
  ATTNORACLE_BUILD_DIR=$build_dir ATTNORACLE_DEMO_SKIP_BUILD=1 \
    ATTNORACLE_DEMO_RUNS="$1" bash "$repo/scripts/demo.sh"
}

check "a demo with two learners succeeds" \
  expect 0 "" demo "probe:tiny-d4 regress:two-head-d16"
out=$E2E_OUT
check "each step prints the command with the binary's path and --server" \
  grep -Eq "^\\\$ $build_dir/bin/oracle-client --server 127\.0\.0\.1:[0-9]+ challenges$" "$out"
check "the scoreboard has one row per learner run" \
  test "$(grep -Ec '^(tiny-d4 +probe|two-head-d16 +regress) ' "$out")" -eq 2
check "the scoreboard has the theta and omega columns" grep -q "theta err omega err" "$out"
for column in "x bound" "func. error" "bits" "theta err"; do
  check "the legend explains '$column'" grep -q "^$column " "$out"
done
check "the demo prints its web page's address" \
  grep -Eq "^== its web page: http://127\.0\.0\.1:[0-9]+/ " "$out"
check "the page's JSON has the demo's leaderboard, one row per challenge" \
  test "$(grep -Ec '^   (tiny-d4|two-head-d16) +rank 1 +anonymous ' "$out")" -eq 2
check "the demo stops its server cleanly" grep -q "server stopped cleanly" "$out"
check "the probe recovered tiny-d4 (error below 1e-20)" \
  awk '$1 == "tiny-d4" && $2 == "probe" { exit !($6 < 1e-20) }' "$out"

# probe refuses several heads before asking anything: the demo must say so.
check "a failing learner stops the demo with exit 1" \
  expect 1 "the learner failed" demo "probe:two-head-d16"
check "and shows what the learner printed" grep -q "head" "$E2E_ERR"
check "and how to run it alone" grep -q "learn two-head-d16 --algo probe" "$E2E_ERR"
finish
