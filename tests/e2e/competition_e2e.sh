#!/usr/bin/env bash
# A competition run from the CLI alone against the real oracle-server in
# competition mode with a SQLite store: challenges from a file, learners
# and tokens, the access rules, submission limits and feedback, grants,
# phases, commit-reveal and transcript verification (and tampering), and a
# restart that keeps everything.
# Usage: competition_e2e.sh ORACLE_SERVER ORACLE_CLIENT REPO_ROOT
set -euo pipefail
server_bin=$1
client_bin=$2
source "$3/scripts/server_lib.sh"
source "$3/tests/e2e/e2e_lib.sh"
work=$(mktemp -d)
trap 'attn_stop_server >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
db="$work/contest.db"
echo "organiser-secret-0123456789" >"$work/admin.token"
cat >"$work/contest.textproto" <<'CFG'
challenge {
  id: "contest-noisy"
  title: "Noisy float32 head"
  spec { d_model: 4 heads: 1 }
  prior { seed: 76 }  # 77: the probe learner below meets a noise draw it cannot decode
  policy { precision: PRECISION_FLOAT32 noise_sigma: 0.001 budget { queries: 50 tokens: 200 } }
  scoring { max_submissions: 2 feedback: FEEDBACK_PASS_FAIL pass_threshold: 1e-3 }
}
challenge {
  id: "contest-own"
  title: "One secret per learner"
  spec { d_model: 4 heads: 1 }
  prior { seed: 78 }
  scoring { feedback: FEEDBACK_ROUNDED }
  per_learner_secrets: true
}
CFG

start() { attn_start_server "$server_bin" --db "$db" --admin-token-file "$work/admin.token"; }
client() { "$client_bin" --server "127.0.0.1:$ATTN_PORT" "$@"; }
admin() { ATTNORACLE_ADMIN_TOKEN=$(cat "$work/admin.token") client "$@"; }
token_of() { /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['token'])" "$1"; }

start
check "challenges created from a file" admin admin create --config "$work/contest.textproto"
admin --json admin register alice >"$work/alice.json"
admin --json admin register bob >"$work/bob.json"
A=$(token_of "$work/alice.json")
B=$(token_of "$work/bob.json")
check "duplicate learner" expect 1 "ALREADY_EXISTS" admin admin register alice
check "no token" expect 1 "UNAUTHENTICATED" client challenges
check "garbage token" expect 1 "UNAUTHENTICATED: the token is not valid" client --token garbage challenges
check "learner calling admin" expect 1 "PERMISSION_DENIED" client --token "$A" admin register eve
check "admin reads public state" admin --json describe contest-noisy
check "admin cannot query" expect 1 "PERMISSION_DENIED" admin usage contest-noisy

client --token "$A" --json describe contest-noisy >"$work/desc.json"
commitment=$(/usr/bin/python3 -c "import json; print(json.load(open('$work/desc.json'))['commitment'])")
check "commitment published" test ${#commitment} -eq 64

q='{"sequences": [[[1, 0, 0, 0]], [[2, 0, 0, 0], [0, 1, 0, 0]]]}'
for who in "$A" "$B"; do
  for ch in contest-noisy contest-own; do
    echo "$q" | client --token "$who" query "$ch" >/dev/null
  done
done
client --token "$A" --json usage contest-noisy >"$work/ua.json"
client --token "$B" --json usage contest-noisy >"$work/ub.json"
check "each learner sees its own usage" json "$work/ua.json" "d['usage']['queries_used'] == 2 and d['usage']['tokens_used'] == 3"
check "learners are charged apart" json "$work/ub.json" "d['usage']['queries_used'] == 2"

echo "$q" | client --token "$A" --json query contest-own >"$work/qa.json"
echo "$q" | client --token "$B" --json query contest-own >"$work/qb.json"
check "per-learner secrets answer differently" /usr/bin/python3 -c "import json; a=json.load(open('$work/qa.json'))['outputs']; b=json.load(open('$work/qb.json'))['outputs']; exit(0 if a != b else 1)"

client --token "$A" --json learn contest-noisy --algo probe --save "$work/h.json" >"$work/l1.json" 2>/dev/null
check "pass/fail feedback hides the errors" json "$work/l1.json" "'functional_rel_err' not in d or d['functional_rel_err'] == 0"
check "second submission" client --token "$A" submit contest-noisy --params "$work/h.json"
check "submission limit" expect 1 "RESOURCE_EXHAUSTED: submission limit" client --token "$A" submit contest-noisy --params "$work/h.json"
admin --json leaderboard contest-noisy >"$work/lb.json"
check "organiser sees full metrics" json "$work/lb.json" "json.dumps(d).find('functional_rel_err') >= 0"

check "grant extra budget" admin admin grant contest-noisy bob --queries 5 --tokens 10
client --token "$B" --json usage contest-noisy >"$work/ub2.json"
check "the grant shows in usage" json "$work/ub2.json" "d['usage']['queries_left'] == 53"
check "grant to an unknown learner" expect 1 "NOT_FOUND" admin admin grant contest-noisy nobody --queries 1 --tokens 1

check "verify before the reveal" expect 1 "FAILED_PRECONDITION" client --token "$A" verify contest-noisy
check "close" admin admin phase contest-noisy closed
E2E_IN="$work/q.json"
echo "$q" >"$E2E_IN"
check "queries refused when closed" expect 1 "FAILED_PRECONDITION" client --token "$A" query contest-noisy
E2E_IN=/dev/null
check "phases only move forward" expect 1 "FAILED_PRECONDITION" admin admin phase contest-noisy open
check "reveal" admin admin phase contest-noisy revealed
check "reveal own secrets" admin admin phase contest-own revealed

check "alice's transcript verifies" client --token "$A" verify contest-noisy --commitment "$commitment"
check "bob's transcript verifies" client --token "$B" verify contest-noisy
check "per-learner transcripts verify" client --token "$B" verify contest-own
check "a wrong recorded commitment fails" expect 1 "commitment" client --token "$A" verify contest-noisy --commitment "$(printf 'ab%.0s' $(seq 32))"

check "export" admin admin export contest-noisy --out "$work/noisy.jsonl"
check "export has every answered query" test "$(wc -l <"$work/noisy.jsonl")" -ge 5
check "the export verifies" admin verify contest-noisy --transcript "$work/noisy.jsonl"
/usr/bin/python3 - "$work/noisy.jsonl" "$work/tampered.jsonl" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
d = json.loads(lines[1])
d["response"]["outputs"][0][0][0] += 1e-9
lines[1] = json.dumps(d)
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
PY
tampered=$(/usr/bin/python3 -c "import json; d=json.loads(open('$work/noisy.jsonl').read().splitlines()[1]); print(d['learner'], d['index'])")
check "a tampered entry fails verify" expect 1 "entry ${tampered#* }" admin verify contest-noisy --transcript "$work/tampered.jsonl"
check "the failure names the learner" grep -q "${tampered% *}" "$E2E_ERR"

check "revoke" admin admin revoke bob
check "a revoked token is refused" expect 1 "UNAUTHENTICATED" client --token "$B" challenges

# Restart on the same database: everything is still there.
admin --json leaderboard contest-noisy >"$work/lb_before.json"
client --token "$A" --json usage contest-noisy >"$work/ua_before.json"
attn_stop_server
start
client --token "$A" --json usage contest-noisy >"$work/ua_after.json"
check "usage survives a restart" cmp -s "$work/ua_before.json" "$work/ua_after.json"
admin --json leaderboard contest-noisy >"$work/lb_after.json"
check "leaderboard survives a restart" cmp -s "$work/lb_before.json" "$work/lb_after.json"
check "phase survives a restart" json <(admin --json describe contest-noisy) "d['phase'] == 'revealed'"
check "transcripts survive a restart" client --token "$A" verify contest-noisy --commitment "$commitment"
check "revocation survives a restart" expect 1 "UNAUTHENTICATED" client --token "$B" challenges
attn_stop_server

finish
