#!/usr/bin/env bash
# scripts/reproduce.sh on binaries already built, for the quick learners: the
# table has a row per challenge with the paper's exact count reached through
# the real server, a rerun prints the same table (seeded), and a bad --only
# is refused.
# Usage: reproduce_e2e.sh BUILD_DIR REPO_ROOT
set -euo pipefail
build_dir=$1
repo=$2
source "$repo/tests/e2e/e2e_lib.sh"
reproduce() {
  ATTNORACLE_BUILD_DIR=$build_dir ATTNORACLE_REPRO_SKIP_BUILD=1 \
    bash "$repo/scripts/reproduce.sh" "$@"
}
first=$(mktemp)
check "reproduce.sh --only scalar-exact succeeds" \
  expect 0 "" reproduce --only scalar-exact
cp "$E2E_OUT" "$first"
# Columns: challenge, paper's count, bound, learner, queries.
for row in "scalar-last-token-d16 272 272" "repro-scalar-d8 72 72" \
  "repro-scalar-d24 600 600"; do
  read -r ch count queries <<<"$row"
  check "scalar-exact spends exactly d^2 + d = $count queries on $ch" \
    grep -Eq "^ *([A-Za-z&.,' ]+  +)?$ch +$count +$count q +scalar-exact +$queries " "$first"
done
check "the headline row has regress beside it" \
  grep -Eq "^Bhattamishra et al\. .* scalar-last-token-d16 .* [0-9]+ +[0-9]+ +[0-9.]+e-[0-9]+ +[0-9.]+$" "$first"
check "every progress line names a finished run" \
  test "$(grep -c '^\[[0-9]/4, ' "$E2E_ERR")" -eq 4
check "a rerun prints the same counts and errors (seconds aside)" \
  expect 0 "" reproduce --only scalar-exact
# Seconds vary; so may regress's error (the row's last number but one), which
# its 20-second time limit can cut short on a slow or loaded machine (as
# under the sanitizers). Its counts do not.
strip_timed() {
  sed -E -e 's/ +[0-9]+\.[0-9]( |$)/ S\1/g' -e 's/[0-9.]+e[-+][0-9]+ +S$/E S/' "$1"
}
check "  ... the same table" diff <(strip_timed "$first") <(strip_timed "$E2E_OUT")
check "--markdown prints a Markdown table" \
  expect 0 "" reproduce --only scalar-exact --markdown
check "  ... with the header row" grep -q "^| paper | setting | challenge |" "$E2E_OUT"
check "an unknown learner in --only is refused, naming the known ones" \
  expect 1 "not in the table (known: scalar-exact, " reproduce --only scalar-exactly
rm -f "$first"
finish
