#!/usr/bin/env bash
# The published learners' table of docs/REPRODUCTION.md: builds, starts a
# fresh oracle-server in memory on the built-in challenges plus other shapes
# (scripts/reproduce.py config), runs every published learner and regress
# through oracle-client, prints the table, and stops the server. Seeded: a
# rerun prints the same counts. Once built, about 10 to 30 seconds on two
# cores (regress runs up to 20 s each).
#   scripts/reproduce.sh                  # a table for the terminal
#   scripts/reproduce.sh --markdown       # the table as in the docs
#   scripts/reproduce.sh --only scalar-exact,sign-bisect
# Progress goes to stderr, one line per finished run.
# ATTNORACLE_BUILD_DIR picks the build directory; ATTNORACLE_REPRO_SKIP_BUILD=1
# uses the binaries already built there.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  -h | --help)
    sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$0"
    exit 0
    ;;
esac
if [ "${ATTNORACLE_REPRO_SKIP_BUILD:-}" != 1 ]; then
  scripts/build.sh --only oracle-server,oracle-client
fi
bin=${ATTNORACLE_BUILD_DIR:-build}/bin
source scripts/server_lib.sh
work=$(mktemp -d)
trap 'attn_stop_server; rm -rf "$work"' EXIT
python3 scripts/reproduce.py config >"$work/challenges.textproto"
attn_start_server "$bin/oracle-server" --db :memory: --open_learner_ids \
  --config "$work/challenges.textproto"
echo "== oracle-server on 127.0.0.1:$ATTN_PORT (in memory); every run below" >&2
echo "   is 'oracle-client --learner repro-N --json learn CH --algo NAME --seed 1'" >&2
python3 scripts/reproduce.py run --server "127.0.0.1:$ATTN_PORT" \
  --client "$bin/oracle-client" "$@"
