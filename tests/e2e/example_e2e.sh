#!/usr/bin/env bash
# Runs the example learner (client/examples/my_learner) against the real
# oracle-server (port 0, loopback): it recovers single-head challenges to
# within kMaxFunctionalError, and refuses what it cannot solve, bad
# arguments and a missing server with exit 1 and the reason on stderr.
# Usage: example_e2e.sh MY_LEARNER ORACLE_SERVER ORACLE_CLIENT REPO_ROOT
set -euo pipefail
learner_bin=$1
server_bin=$2
client_bin=$3
source "$4/scripts/server_lib.sh"
source "$4/tests/e2e/e2e_lib.sh"
trap 'attn_stop_server || true' EXIT

# Exact float64 answers leave only rounding: about 1e-22 on single-head-d16.
kMaxFunctionalError=1e-8

attn_start_server "$server_bin"
learner() { "$learner_bin" --server="127.0.0.1:$ATTN_PORT" "$@"; }

# recovers CH QUERIES TOKENS: exit 0, the spend of the method (d + 1
# sequences, 2d + 1 tokens) and a functional error below the bound.
recovers() {
  expect 0 "" learner "$1" &&
    grep -qx "$1: spent $2 queries, $3 tokens" "$E2E_OUT" &&
    awk -v max="$kMaxFunctionalError" \
      '$1 == "functional_rel_err" { found = 1; ok = ($2 + 0 < max + 0) }
       END { exit !(found && ok) }' "$E2E_OUT"
}
check "recovers single-head-d16" recovers single-head-d16 17 33
cat "$E2E_OUT"
check "recovers tiny-d4" recovers tiny-d4 5 9
check "the default challenge is single-head-d16" expect 0 "" learner
check "  and it was scored" grep -q "^single-head-d16: spent 34 queries" "$E2E_OUT"

check "two heads refused" expect 1 \
  "my_learner: FAILED_PRECONDITION: my_learner solves one head" \
  learner two-head-d16
check "noise refused" expect 1 "FAILED_PRECONDITION" \
  learner noisy-single-head-d16
"$client_bin" --server "127.0.0.1:$ATTN_PORT" --json usage two-head-d16 \
  >"$E2E_OUT"
check "refused before spending" json "$E2E_OUT" \
  "d['usage']['queries_used'] == 0"
check "unknown challenge" expect 1 'NOT_FOUND: no challenge "nope"' \
  learner nope
check "two challenges are a usage error" expect 1 "usage: my_learner" \
  learner a b
attn_stop_server
check "no server" expect 1 "my_learner: UNAVAILABLE" \
  "$learner_bin" --server="127.0.0.1:$ATTN_PORT" single-head-d16
finish
