#!/usr/bin/env bash
# Kill -9 under load: a server with a durable SQLite store is killed while
# concurrent clients query it, then restarted on the same database. Every
# answer a client received must have been charged (usage >= answers), and
# the usage may exceed the answers by at most the requests in flight.
# Usage: crash_e2e.sh ORACLE_SERVER ORACLE_CLIENT LOAD_CLIENT REPO_ROOT
set -euo pipefail
server_bin=$1
client_bin=$2
load_bin=$3
source "$4/scripts/server_lib.sh"
source "$4/tests/e2e/e2e_lib.sh"
work=$(mktemp -d)
trap 'attn_stop_server >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
db="$work/crash.db"
threads=8
sequences=4
challenge=single-head-d16
usage_of() {
  "$client_bin" --server "127.0.0.1:$ATTN_PORT" --json usage "$challenge" |
    /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['usage']['queries_used'])"
}

expected_total=0
for round in 1 2 3; do
  attn_start_server "$server_bin" --db "$db"
  before=$(usage_of)
  mkfifo "$work/load.$round"
  "$load_bin" --server "127.0.0.1:$ATTN_PORT" --challenge "$challenge" \
    --threads "$threads" --sequences "$sequences" --seconds 30 \
    >"$work/load.$round" 2>"$work/load.$round.err" &
  load_pid=$!
  exec {load_fd}<"$work/load.$round"
  # Wait for the first answer, let the load run a moment, then kill -9.
  read -r -t 60 -u "$load_fd" line
  /usr/bin/python3 -c "import time; time.sleep(0.3 * $round)"
  kill -KILL "$ATTN_SERVER_PID"
  wait "$ATTN_SERVER_PID" 2>/dev/null || true
  ATTN_SERVER_PID=""
  read -r -t 60 -u "$load_fd" result
  wait "$load_pid"
  exec {load_fd}<&-
  answered=$(/usr/bin/python3 -c "import json,sys; print(json.loads(sys.argv[1])['answered_queries'])" "$result")

  attn_start_server "$server_bin" --db "$db"
  after=$(usage_of)
  charged=$((after - before))
  in_flight=$((threads * sequences))
  echo "round $round: $answered queries answered, $charged charged (at most $in_flight in flight)"
  check "round $round: answers received were charged" test "$charged" -ge "$answered"
  check "round $round: at most the in-flight requests charged unanswered" \
    test "$charged" -le $((answered + in_flight))
  check "round $round: load ran before the kill" test "$answered" -gt 0
  attn_stop_server
done

finish
