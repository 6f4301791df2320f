#!/usr/bin/env bash
# Drives the real oracle-server (port 0, loopback) with the real oracle-client
# and checks what a user sees: outputs, usage, exit codes and error texts.
# Usage: cli_e2e.sh ORACLE_SERVER ORACLE_CLIENT REPO_ROOT
set -euo pipefail
server_bin=$1
client_bin=$2
source "$3/scripts/server_lib.sh"
source "$3/tests/e2e/e2e_lib.sh"
work=$(mktemp -d)
trap 'attn_stop_server || true; rm -rf "$work"' EXIT

attn_start_server "$server_bin"
client() { "$client_bin" --server "127.0.0.1:$ATTN_PORT" "$@"; }
E2E_IN="$work/in"
: >"$E2E_IN"

# Listing and describing.
client --json challenges >"$work/list.json"
check "seven built-in challenges" json "$work/list.json" \
  "sorted(c['id'] for c in d['challenges']) == sorted(['tiny-d4','single-head-d16','single-head-causal-d16','last-token-d16','two-head-d16','noisy-single-head-d16','float32-single-head-d16'])"
client --json describe tiny-d4 >"$work/desc.json"
check "describe shows the public spec" json "$work/desc.json" \
  "d['spec']['d_model'] == 4 and d['policy']['budget']['queries'] == 64 and 'seed' not in json.dumps(d)"

# A real query: shapes, linearity of one-token answers, usage.
echo '{"sequences": [[[1, 0, 0, 0]], [[2, 0, 0, 0]], [[1, 0, 0, 0], [0, 1, 0, 0]]]}' >"$work/q.json"
client --json query tiny-d4 --input "$work/q.json" >"$work/a.json"
check "answer shapes" json "$work/a.json" \
  "[len(o) for o in d['outputs']] == [1, 1, 2] and all(len(r) == 4 for o in d['outputs'] for r in o)"
check "one-token answers are linear" json "$work/a.json" \
  "all(abs(2*a - b) <= 1e-12 * max(1, abs(b)) for a, b in zip(d['outputs'][0][0], d['outputs'][1][0]))"
check "usage after the query" json "$work/a.json" \
  "d['usage'] == {'queries_used': 3, 'tokens_used': 4, 'queries_left': 61, 'tokens_left': 252}"
client --json usage tiny-d4 >"$work/u.json"
check "usage command agrees" json "$work/u.json" "d['usage']['queries_used'] == 3"

# Refusals: exit 1, the code's name and the problem on stderr, nothing charged.
echo '{"sequences": [[[1, 2, 3]]]}' >"$work/in"
check "wrong width refused" expect 1 "INVALID_ARGUMENT: sequences\[0\] has tokens of width 3" client query tiny-d4
echo '{"sequences": [[[1, 0, 0, 0]]]}' >"$work/in"
check "unknown challenge" expect 1 "NOT_FOUND: no challenge \"nope\"" client query nope
echo '{"sequences": [[[1e9, 0, 0, 0]]]}' >"$work/in"
check "input too large" expect 1 "INVALID_ARGUMENT: .*max_abs_input" client query tiny-d4
echo '{"sequences": [[[1, 0, 0, 0], [1, 0]]]}' >"$work/in"
check "ragged input is a usage error" expect 2 "sequences\[0\]\[1\]" client query tiny-d4
echo 'not json' >"$work/in"
check "malformed JSON is a usage error" expect 2 "not valid JSON" client query tiny-d4
: >"$work/in"
check "unknown command" expect 2 "unknown command" client frobnicate
check "missing argument" expect 2 "usage: oracle-client describe CH" client describe
check "unknown flag" expect 2 "unknown flag --bogus" client --bogus challenges
client --json usage tiny-d4 >"$work/u.json"
check "refusals charged nothing" json "$work/u.json" "d['usage']['queries_used'] == 3"
for cmd in challenges describe query usage; do
  check "help for $cmd" client "$cmd" --help >/dev/null
done

# Spend the rest of tiny-d4's 64 queries, then be refused.
/usr/bin/python3 -c "import json; print(json.dumps({'sequences': [[[0.5, 0, 0, 0]]] * 61}))" >"$work/in"
check "spending the last queries" expect 0 "" client query tiny-d4
echo '{"sequences": [[[1, 0, 0, 0]]]}' >"$work/in"
check "budget exhausted" expect 1 "RESOURCE_EXHAUSTED" client query tiny-d4
client --json usage tiny-d4 >"$work/u.json"
check "exhausted budget stays exact" json "$work/u.json" \
  "d['usage'] == {'queries_used': 64, 'tokens_used': 65, 'queries_left': 0, 'tokens_left': 191}"

# A reference learner over the wire: recovers the layer at the bound, and
# its saved hypothesis scores the same when submitted again.
client --json learn single-head-d16 --algo probe --save "$work/h.json" \
  >"$work/learn.json" 2>"$work/learn.err"
check "probe summary" json "$work/learn.json" \
  "d['algo'] == 'probe' and d['tokens'] == 33 and d['functional_rel_err'] <= 1e-18 and d['bits'] > 30 and set(d) >= {'challenge','queries','theta_rel_err','omega_rel_err','seconds'}"
check "learner progress on stderr" grep -q "probe: omega from 16 one-token queries" "$work/learn.err"
client --json submit single-head-d16 --params "$work/h.json" >"$work/sub.json"
check "saved hypothesis resubmits" json "$work/sub.json" \
  "d['score']['functional_rel_err'] <= 1e-18 and d['score']['tokens_used'] == 33"
echo '{"heads": [{"wq": [[1]]}]}' >"$work/bad_h.json"
: >"$work/in"
check "hypothesis missing a factor" expect 1 "INVALID_ARGUMENT: heads\[0\] has no wk (factors need" client submit single-head-d16 --params "$work/bad_h.json"
echo '{"heads": [{"theta": [[1, 2], [3]]}]}' >"$work/bad_h.json"
check "ragged hypothesis is a usage error" expect 2 "heads\[0\].theta\[1\]" client submit single-head-d16 --params "$work/bad_h.json"
check "probe refuses two heads" expect 1 "FAILED_PRECONDITION: .*Use --algo regress" client learn two-head-d16 --algo probe
check "unknown learner" expect 1 "unknown learner" client learn two-head-d16 --algo nope
client --json learn two-head-d16 --algo regress --max_tokens 500 >"$work/reg.json" 2>/dev/null
check "regress on two heads with 500 tokens" json "$work/reg.json" \
  "d['tokens'] == 500 and d['functional_rel_err'] <= 1e-10"

# SIGTERM: clean exit 0.
check "clean shutdown on SIGTERM" attn_stop_server

# A malformed configuration file: the server refuses to start, naming the line.
printf 'challenge { id: "x" spec { d_model: 4 }\n  bogus_field: 1 }\n' >"$work/bad.textproto"
rc=0
"$server_bin" --listen 127.0.0.1:0 --config "$work/bad.textproto" >/dev/null 2>"$work/err" || rc=$?
check "malformed config refused" test "$rc" -eq 1
check "malformed config error names the line" grep -q "line 2" "$work/err"

# A port out of range is refused rather than wrapped around.
rc=0
"$server_bin" --listen 127.0.0.1:99999 >/dev/null 2>"$work/err" || rc=$?
check "port out of range refused" test "$rc" -eq 1
check "port error names the address" grep -q "port from 0 to 65535" "$work/err"

finish
