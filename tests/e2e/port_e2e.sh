#!/usr/bin/env bash
# One server owns its port: a second oracle-server on the same port (with a
# database of its own) exits 1 with "address in use" and creates no
# database, and every call still reaches the first server.
# Usage: port_e2e.sh ORACLE_SERVER ORACLE_CLIENT REPO_ROOT
set -euo pipefail
server_bin=$1
client_bin=$2
source "$3/scripts/server_lib.sh"
source "$3/tests/e2e/e2e_lib.sh"
work=$(mktemp -d)
trap 'attn_stop_server || true; rm -rf "$work"' EXIT

attn_start_server "$server_bin" --db "$work/first.db"
address="127.0.0.1:$ATTN_PORT"

check "a second server on the same port exits 1 saying address in use" \
  expect 1 "address in use" timeout 30 "$server_bin" --listen "$address" --db "$work/other.db"
check "the refusal names the address" grep -q "$address" "$E2E_ERR"
check "the refused server created no database" test ! -e "$work/other.db"
check "nothing was printed on stdout (no listening line)" test ! -s "$E2E_OUT"

# The same for the HTTP listeners: a taken --http or --metrics address stops
# the second server before it opens a database.
attn_stop_server
attn_start_server "$server_bin" --db "$work/first.db" --http 127.0.0.1:0
address="127.0.0.1:$ATTN_PORT"
http=$(sed -n 's/.*, page http:\/\/\([^/]*\)\/,.*/\1/p' <<<"$ATTN_SERVER_LINE")
check "the startup line names the page" test -n "$http"
for flag in --http --metrics; do
  check "a second server with $flag on a taken address exits 1" \
    expect 1 "$flag: cannot listen on HTTP address \"$http\": address in use" \
    timeout 30 "$server_bin" --listen 127.0.0.1:0 "$flag" "$http" --db "$work/other.db"
  check "and created no database ($flag)" test ! -e "$work/other.db"
done

# Both servers would have answered from their own ledger; only one does, so
# the usage goes on growing in one place.
echo '{"sequences": [[[1, 0, 0, 0]]]}' >"$work/query.json"
for i in 1 2 3 4; do
  E2E_IN=$work/query.json check "query $i reaches the first server" \
    expect 0 "" "$client_bin" --server "$address" query tiny-d4
done
check "the first server charged all four queries" \
  expect 0 "" "$client_bin" --server "$address" --json usage tiny-d4
check "usage is 4 queries" json "$E2E_OUT" 'd["usage"]["queries_used"] == 4'

# Restarting on the same port right after a stop works (connections of the
# old server in TIME_WAIT do not hold it). A later --listen overrides the
# helper's port 0.
old_port=$ATTN_PORT
attn_stop_server
attn_start_server "$server_bin" --listen "$address" --db "$work/first.db"
check "a restarted server takes the same port" test "$ATTN_PORT" = "$old_port"
check "and answers" expect 0 "" "$client_bin" --server "$address" challenges
finish
