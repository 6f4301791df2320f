#!/usr/bin/env bash
# The main job on the embedded defaults: installs what is missing, builds,
# starts oracle-server with the built-in challenges, runs a short learner
# session through oracle-client, and stops the server.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== building (first build takes a few minutes)"
scripts/build.sh
bin=${ATTNORACLE_BUILD_DIR:-build}/bin
source scripts/server_lib.sh
trap attn_stop_server EXIT
attn_start_server "$bin/oracle-server"
client() { "$bin/oracle-client" --server "127.0.0.1:$ATTN_PORT" "$@"; }
step() { printf '\n== %s\n$ oracle-client %s\n' "$1" "${*:2}"; }

echo "== oracle-server is listening on 127.0.0.1:$ATTN_PORT"
step "What challenges does the server host?" challenges
client challenges
step "What is public about tiny-d4?" describe tiny-d4
client describe tiny-d4
query='{"sequences": [[[1, 0, 0, 0]], [[2, 0, 0, 0]], [[1, 0, 0, 0], [0, 1, 0, 0]]]}'
step "Three sequences: e1, 2*e1 (one token answers are linear), then [e1, e2]" \
  query tiny-d4 "<<< '$query'"
client query tiny-d4 <<<"$query"
step "A bad query (tokens of width 3) is refused and not charged" \
  query tiny-d4 "<<< '{\"sequences\": [[[1, 2, 3]]]}'"
client query tiny-d4 <<<'{"sequences": [[[1, 2, 3]]]}' 2>&1 || true
step "The same usage, as JSON" --json usage tiny-d4
client --json usage tiny-d4
trap - EXIT
attn_stop_server
echo
echo "== server stopped cleanly"
