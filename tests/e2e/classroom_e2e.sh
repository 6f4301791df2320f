#!/usr/bin/env bash
# A class from the command line alone, against the real oracle-server.
# Competition mode: a class registered from a CSV file (tokens written to a
# file only its owner reads, one of them used), runs again that skip or
# re-issue, bad files refused whole, and a lost token re-issued with its
# usage kept across a restart. Open mode with --open_learner_ids: names
# with budgets of their own, bad names and a server without the flag.
# Usage: classroom_e2e.sh ORACLE_SERVER ORACLE_CLIENT REPO_ROOT
set -euo pipefail
server_bin=$1
client_bin=$2
source "$3/scripts/server_lib.sh"
source "$3/tests/e2e/e2e_lib.sh"
work=$(mktemp -d)
trap 'attn_stop_server >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
db="$work/class.db"
echo "teacher-secret-0123456789" >"$work/admin.token"

start() { attn_start_server "$server_bin" --db "$db" --admin-token-file "$work/admin.token"; }
client() { "$client_bin" --server "127.0.0.1:$ATTN_PORT" "$@"; }
admin() { ATTNORACLE_ADMIN_TOKEN=$(cat "$work/admin.token") client "$@"; }
# The token of learner $2 in the name,token file $1.
token_in() { awk -F, -v n="$2" '$1 == n { print $2 }' "$1"; }
queries_used() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['usage']['queries_used'])"; }
q='{"sequences": [[[1, 0, 0, 0]], [[2, 0, 0, 0], [0, 1, 0, 0]]]}'
echo "$q" >"$work/q.json"

# ---- Registering a class from a CSV file --------------------------------
cat >"$work/class.csv" <<'CSV'
Name,Email
ada,ada@example.org

"grace", grace@example.org
# joins in week 2
alan,alan@example.org
CSV
start
check "register-class" expect 0 "alan: registered (3 of 3)" admin admin register-class "$work/class.csv" --out "$work/tokens.csv"
check "one row per name under a header" test "$(cat "$work/tokens.csv" | cut -d, -f1 | tr '\n' ' ')" = "name ada grace alan "
check "the tokens file is the owner's alone" test "$(stat -c %a "$work/tokens.csv")" = 600
ADA=$(token_in "$work/tokens.csv" ada)
check "an issued token queries" client --token "$ADA" query tiny-d4 --input "$work/q.json"
check "and is charged to its learner" test "$(client --token "$ADA" --json usage tiny-d4 | queries_used)" = 2

check "a second run skips registered names" expect 0 "ada: already registered, skipped" admin admin register-class "$work/class.csv"
check "and issues nothing" test "$(cat "$E2E_OUT")" = "name,token"
check "an existing tokens file is not overwritten" expect 2 "File exists" admin admin register-class "$work/class.csv" --out "$work/tokens.csv"
check "the first tokens are still there" test "$(token_in "$work/tokens.csv" ada)" = "$ADA"

printf 'zed\nBad Name\nzed\n' >"$work/bad.txt"
check "a bad file is refused whole" expect 2 "bad.txt:2: \"Bad Name\" is not a learner name" admin admin register-class "$work/bad.txt"
check "naming repeated lines" grep -q "bad.txt:3: \"zed\" is already on line 1" "$E2E_ERR"
check "and registers nobody" expect 1 "NOT_FOUND" admin admin grant tiny-d4 zed --queries 1
printf '\xEF\xBB\xBFkay\n' >"$work/bom.csv"
check "a byte order mark is not part of the first name" expect 0 "kay: registered" admin admin register-class "$work/bom.csv"

# ---- A lost token -----------------------------------------------------
check "revoke" admin admin revoke ada
check "the revoked token is refused" expect 1 "UNAUTHENTICATED" client --token "$ADA" usage tiny-d4
admin --json admin register ada >"$work/ada.json"
ADA2=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['token'])" "$work/ada.json")
check "register after revoke issues a new token" test -n "$ADA2" -a "$ADA2" != "$ADA"
check "the new token keeps the usage" test "$(client --token "$ADA2" --json usage tiny-d4 | queries_used)" = 2
check "the old token stays refused" expect 1 "UNAUTHENTICATED" client --token "$ADA" usage tiny-d4
check "an active learner is not re-registered" expect 1 "ALREADY_EXISTS" admin admin register ada
attn_stop_server
start
check "the new token survives a restart" test "$(client --token "$ADA2" --json usage tiny-d4 | queries_used)" = 2
check "the old one stays dead" expect 1 "UNAUTHENTICATED" client --token "$ADA" usage tiny-d4

GRACE=$(token_in "$work/tokens.csv" grace)
check "--reissue gives everyone a new token" expect 0 "grace: re-issued (2 of 3)" admin admin register-class "$work/class.csv" --reissue --out "$work/tokens2.csv"
check "grace's old token is refused" expect 1 "UNAUTHENTICATED" client --token "$GRACE" usage tiny-d4
check "grace's new token works" client --token "$(token_in "$work/tokens2.csv" grace)" usage tiny-d4
attn_stop_server

# ---- Open mode with learner names ---------------------------------------
attn_start_server "$server_bin" --open_learner_ids --max_open_learners 2
check "a named learner queries" client --learner alice query tiny-d4 --input "$work/q.json"
check "alice is charged" test "$(client --learner alice --json usage tiny-d4 | queries_used)" = 2
check "bob has his own budget" test "$(ATTNORACLE_LEARNER=bob client --json usage tiny-d4 | queries_used)" = 0
check "so has anonymous" test "$(client --json usage tiny-d4 | queries_used)" = 0
check "a bad name is a usage error" expect 2 "must be 1 to 64 characters" client --learner "Alice Smith" usage tiny-d4
check "so is one gRPC could not send" expect 2 "must be 1 to 64 characters" env ATTNORACLE_LEARNER=$'zo\xc3\xab' "$client_bin" --server "127.0.0.1:$ATTN_PORT" usage tiny-d4
check "a third name is over the cap" expect 1 "RESOURCE_EXHAUSTED: this server takes at most 2" client --learner carol usage tiny-d4
attn_stop_server

attn_start_server "$server_bin"
check "without the flag a name is refused" expect 1 "FAILED_PRECONDITION" client --learner alice usage tiny-d4
check "and anonymous works as before" client usage tiny-d4
attn_stop_server
check "names and tokens do not mix" expect 1 "open mode" "$server_bin" --listen 127.0.0.1:0 --db :memory: --admin-token-file "$work/admin.token" --open_learner_ids

finish
