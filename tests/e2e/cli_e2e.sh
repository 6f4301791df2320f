#!/usr/bin/env bash
# Drives the real oracle-server (port 0, loopback) with the real oracle-client
# and checks what a user sees: outputs, usage, exit codes and error texts.
# Usage: cli_e2e.sh ORACLE_SERVER ORACLE_CLIENT REPO_ROOT
set -euo pipefail
server_bin=$1
client_bin=$2
repo=$3
source "$3/scripts/server_lib.sh"
source "$3/tests/e2e/e2e_lib.sh"
work=$(mktemp -d)
trap 'attn_stop_server || true; rm -rf "$work"' EXIT

# listed FILE "--flag VALUE" DEFAULT: a help listing in FILE has the flag
# with that default in its (possibly wrapped) entry.
listed() {
  awk -v flag="  $2 " -v want="(default: $3)" '
    index($0, flag) == 1 { inside = 1; text = $0; next }
    inside && /^                         / { text = text " " $0; next }
    inside { exit }
    END { exit !(index(text, want) > 0) }' "$1"
}
unlisted() { ! listed "$@"; }

# Help: every flag with its default, -h as --help, no path of the build
# machine, and every server flag documented in the README.
"$server_bin" --help >"$work/help.txt"
"$server_bin" -h >"$work/h.txt"
check "server -h is --help" cmp -s "$work/help.txt" "$work/h.txt"
check "server help lists --listen with its default" \
  listed "$work/help.txt" "--listen HOST:PORT" 127.0.0.1:50051
check "server help lists --max-message-mib with its default" \
  listed "$work/help.txt" "--max-message-mib MIB" 64
check "server help groups its flags" grep -q "^TLS:$" "$work/help.txt"
"$server_bin" --helpfull >"$work/helpfull.txt" 2>&1 || true
check "helpfull lists the server's flags" grep -q "Flags from server/main.cc:" "$work/helpfull.txt"
check "helpfull names no absolute path" bash -c "! grep -q 'Flags from /' '$work/helpfull.txt'"
check "help names no build path" bash -c "! grep -q -- '$repo' '$work/help.txt' '$work/helpfull.txt'"
for flag in $(grep -o -- '^  --[a-z-]*' "$work/help.txt"); do
  check "README documents $flag" grep -q -- "\`$flag" "$repo/README.md"
done
"$client_bin" --help >"$work/chelp.txt"
"$client_bin" -h >"$work/ch.txt"
check "client -h is --help" cmp -s "$work/chelp.txt" "$work/ch.txt"
check "client help lists --server with its default" \
  listed "$work/chelp.txt" "--server HOST:PORT" 127.0.0.1:50051
check "client help lists --timeout with its default" \
  listed "$work/chelp.txt" "--timeout SECONDS" 30
check "client help lists reveal" grep -q "^  reveal CH" "$work/chelp.txt"
"$client_bin" learn --help >"$work/lhelp.txt"
check "learn help lists --time-limit with its default" \
  listed "$work/lhelp.txt" "--time-limit SECONDS" 60
check "learn help lists --max-tokens with its default" \
  listed "$work/lhelp.txt" "--max-tokens N" 0
check "a default is not taken from the next flag" \
  unlisted "$work/lhelp.txt" "--seed N" 60
check "client help names no build path" bash -c "! grep -q -- '$repo' '$work/chelp.txt' '$work/lhelp.txt'"

attn_start_server "$server_bin"
client() { "$client_bin" --server "127.0.0.1:$ATTN_PORT" "$@"; }
E2E_IN="$work/in"
: >"$E2E_IN"

# Listing and describing.
client --json challenges >"$work/list.json"
check "the built-in challenges" json "$work/list.json" \
  "sorted(c['id'] for c in d['challenges']) == sorted(['tiny-d4','single-head-d16','single-head-causal-d16','last-token-d16','two-head-d16','noisy-single-head-d16','float32-single-head-d16','scalar-last-token-d16','multihead-scalar-d8-h2','transformer-ffn-d8','multi-query-d16-h4','linear-attention-d16','tied-two-layer-d16','chen-li-signs-d8-h2','sign-scalar-d8','top3-last-token-d16'])"
client --json describe tiny-d4 >"$work/desc.json"
check "describe shows the public spec" json "$work/desc.json" \
  "d['spec']['d_model'] == 4 and d['policy']['budget']['queries'] == 64 and 'seed' not in json.dumps(d)"

# Random examples and answer forms.
client --json describe chen-li-signs-d8-h2 >"$work/desc-cl.json"
check "describe shows the example access" json "$work/desc-cl.json" \
  "d['policy']['access'] == 'ACCESS_EXAMPLES' and d['policy']['examples'] == {'inputs': 'INPUTS_SIGNS', 'tokens': 8, 'scale': 1.0}"
client describe top3-last-token-d16 >"$work/desc-top3.txt"
check "describe shows the answer form" \
  grep -q "the top 3 (index, value) pairs of each row (ANSWERS_TOP_K)" "$work/desc-top3.txt"
client --json sample chen-li-signs-d8-h2 --count 2 >"$work/s.json"
check "sample: 2 examples of 8 sign tokens and their answers" json "$work/s.json" \
  "len(d['inputs']) == 2 and all(len(x) == 8 and all(len(r) == 8 and all(v in (1.0, -1.0) for v in r) for r in x) for x in d['inputs']) and [len(o) for o in d['outputs']] == [8, 8] and d['usage']['queries_used'] == 2 and d['usage']['tokens_used'] == 16"
client --json sample chen-li-signs-d8-h2 --count 1 >"$work/s2.json"
check "sample: the next example is a new one" json "$work/s2.json" \
  "d['usage']['queries_used'] == 3 and d['inputs'][0] != json.load(open('$work/s.json'))['inputs'][0]"
client query chen-li-signs-d8-h2 <<<'{"sequences": [[[1,1,1,1,1,1,1,1]]]}' 2>"$work/q-cl.err" || true
check "the refusal says examples only" grep -q "FAILED_PRECONDITION.*random examples only" "$work/q-cl.err"
client sample tiny-d4 2>"$work/s-tiny.err" || true
check "sample on a queries-only challenge is refused" grep -q "FAILED_PRECONDITION.*queries only" "$work/s-tiny.err"
echo '{"sequences": [[[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]]}' >"$work/q16.json"
client --json query top3-last-token-d16 --input "$work/q16.json" >"$work/top3.json"
check "top-k answers: 3 (index, value) pairs, largest first" json "$work/top3.json" \
  "'outputs' not in d and len(d['top_k']) == 1 and len(d['top_k'][0]) == 1 and [len(p) for p in d['top_k'][0][0]] == [2, 2, 2] and d['top_k'][0][0][0][1] >= d['top_k'][0][0][1][1] >= d['top_k'][0][0][2][1]"
echo '{"sequences": [[[1, 0, 0, 0, 0, 0, 0, 0], [0, 1, 0, 0, 0, 0, 0, 0]]]}' >"$work/q8.json"
client --json query sign-scalar-d8 --input "$work/q8.json" >"$work/sign.json"
check "sign answers are +1 or -1" json "$work/sign.json" \
  "len(d['outputs'][0]) == 1 and d['outputs'][0][0][0] in (1.0, -1.0)"
client --json learn sign-scalar-d8 --algo regress 2>"$work/sign-learn.err" || true
check "regress refuses sign answers" grep -q "answers signs only" "$work/sign-learn.err"
client --json usage sign-scalar-d8 >"$work/sign-usage.json"
check "... before spending anything" json "$work/sign-usage.json" \
  "d['usage']['queries_used'] == 1"

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
check "probe within the budget is not capped" json "$work/learn.json" "d['budget_capped'] is False"
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
# No server listens on port 1: the usage error comes before any call.
check "unknown learner is a usage error" expect 2 \
  'unknown learner "nope" for --algo; known: probe, regress, scalar-exact, scalar-lowrank, multihead-scalar, multihead-local, heads-pencil, ffn-antisymmetric, sign-bisect, examples-regress' \
  "$client_bin" --server 127.0.0.1:1 learn two-head-d16 --algo nope
client --json learn two-head-d16 --algo regress --max_tokens 500 >"$work/reg.json" 2>/dev/null
check "regress on two heads with 500 tokens" json "$work/reg.json" \
  "d['tokens'] == 500 and d['functional_rel_err'] <= 1e-10"

# Counts agree with their nouns.
echo '{"sequences": [[[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]]}' >"$work/in"
check "one query" expect 0 "" client query float32-single-head-d16
check "singular nouns" grep -q "^usage: 1 query and 1 token used; " "$E2E_OUT"

# SIGTERM: clean exit 0.
check "clean shutdown on SIGTERM" attn_stop_server

# Competition mode with twin challenges (same spec and prior seed, so the
# same secret): the reveal of one scores perfectly on the other.
echo "organiser-secret-0123456789" >"$work/admin.token"
twin() {
  printf 'challenge { id: "%s" title: "Twin %s" spec { d_model: 4 heads: 2 biases: true } prior { seed: 5 } policy { budget { queries: 1000 tokens: 300 } } }\n' "$1" "$1"
}
twin twin-a >"$work/twin-a.textproto"
twin twin-b >"$work/twin-b.textproto"
attn_start_server "$server_bin" --config "$work/twin-a.textproto" --admin-token-file "$work/admin.token"
check "one challenge, singular" grep -q " 1 challenge, " <<<"$ATTN_SERVER_LINE"
admin() { ATTNORACLE_ADMIN_TOKEN=$(cat "$work/admin.token") client "$@"; }
check "second twin created" admin admin create --config "$work/twin-b.textproto"
admin --json admin register alice >"$work/alice.json"
A=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['token'])" "$work/alice.json")
echo '{"sequences": [[[1, 0, 0, 0]]]}' >"$work/in"
check "a query on twin-a" expect 0 "" client --token "$A" query twin-a
check "a query on twin-b" expect 0 "" client --token "$A" query twin-b
check "reveal before the reveal" expect 1 "FAILED_PRECONDITION" client --token "$A" reveal twin-a

# Asking for more than is left: capped, said, and the curve counts the run.
client --token "$A" --json learn twin-b --algo regress --max-tokens 9000 \
  --time-limit 5 >"$work/capped.json" 2>"$work/capped.err"
check "a capped run says so" grep -q \
  "learn: asked for 9000 tokens but only 299 are left; this run spends at most 299" \
  "$work/capped.err"
check "a capped run is marked and spends what was left" json "$work/capped.json" \
  "d['budget_capped'] is True and d['tokens'] == 299"
check "the curve counts this run's spend" json "$work/capped.json" \
  "d['curve'][-1]['tokens'] == 299 and d['curve'][-1]['queries'] == d['queries'] and 'heldout_answer_rel_err' in d['curve'][-1] and d['curve'][-1]['est_functional_rel_err'] >= 0"

check "close twin-a" admin admin phase twin-a closed
check "reveal twin-a" admin admin phase twin-a revealed
check "export of one query" expect 0 "" admin admin export twin-a --out "$work/a.jsonl"
check "singular export" grep -q "^exported 1 answered query of 1 learner on twin-a" "$E2E_OUT"

client --token "$A" reveal twin-a >"$work/reveal.txt"
check "reveal shows each head's factors" grep -q "^    Wq (4 x 2):" "$work/reveal.txt"
check "reveal shows the second head and bo" bash -c "grep -q '^  head 1:' '$work/reveal.txt' && grep -q '^    bo (4):' '$work/reveal.txt'"
check "reveal checks the commitment" grep -q "opened by this secret and nonce" "$work/reveal.txt"
client --token "$A" --json reveal twin-a >"$work/secret.json"
check "reveal --json" json "$work/secret.json" \
  "len(d['heads']) == 2 and len(d['bo']) == 4 and d['prior_seed'] == 5 and len(d['nonce']) > 0 and d['commitment_opens'] is True"
client --token "$A" --json submit twin-b --params "$work/secret.json" >"$work/twin.json"
check "the revealed secret scores perfectly on its twin" json "$work/twin.json" \
  "d['score']['functional_rel_err'] <= 1e-24 and d['score']['theta_rel_err'] <= 1e-12"

# The table stays aligned with a revealed phase among open ones.
client --token "$A" challenges >"$work/table.txt"
client --token "$A" --json challenges >"$work/table.json"
check "challenges table aligned" /usr/bin/python3 - "$work/table.txt" "$work/table.json" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
doc = json.load(open(sys.argv[2]))
title_at = lines[0].index("TITLE")
phase_at = lines[0].index("PHASE")
ok = len(lines) == 1 + len(doc["challenges"])
for line, c in zip(lines[1:], doc["challenges"]):
    ok = ok and line[title_at:] == c["title"] and line[phase_at:].startswith(c["phase"] + " ")
sys.exit(0 if ok and "revealed" in open(sys.argv[1]).read() else 1)
PY
check "clean shutdown of the twins' server" attn_stop_server

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
