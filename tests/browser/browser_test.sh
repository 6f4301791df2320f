#!/usr/bin/env bash
# The competition page in a real browser: installs puppeteer-core (pinned in
# package-lock.json) into the build tree with npm ci, starts a real
# oracle-server in competition mode with --http on free ports, registers
# two learners, and runs leaderboard_test.js, which loads the page, has the
# learners submit, waits for the page to show them, and checks the ranks.
# Screenshots land in BUILD_DIR/browser/screenshots.
# Usage: browser_test.sh BUILD_DIR REPO_ROOT
set -euo pipefail
build_dir=$(cd "$1" && pwd)
repo=$(cd "$2" && pwd)
here=$repo/tests/browser
install_dir=$build_dir/browser
shots=$install_dir/screenshots
mkdir -p "$install_dir" "$shots"

[ -x /usr/bin/chromium ] || { echo "browser test: /usr/bin/chromium is missing (apt-get install chromium; scripts/deps.sh installs it)" >&2; exit 1; }

# npm ci only when the lock file changed since the last install.
if ! cmp -s "$here/package-lock.json" "$install_dir/package-lock.json" ||
  [ ! -d "$install_dir/node_modules/puppeteer-core" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$install_dir/"
  (cd "$install_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

source "$repo/scripts/server_lib.sh"
work=$(mktemp -d)
trap 'attn_stop_server || true; rm -rf "$work"' EXIT
echo "browser-test-admin-token" >"$work/admin.token"
attn_start_server "$build_dir/bin/oracle-server" --http 127.0.0.1:0 \
  --admin-token-file "$work/admin.token"
page=$(sed -n 's/.*, page \(http:[^,]*\),.*/\1/p' <<<"$ATTN_SERVER_LINE")
[ -n "$page" ] || { echo "no page address in: $ATTN_SERVER_LINE" >&2; exit 1; }
client() { "$build_dir/bin/oracle-client" --server "127.0.0.1:$ATTN_PORT" "$@"; }
token_of() {
  ATTNORACLE_ADMIN_TOKEN=$(cat "$work/admin.token") client --json admin register "$1" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])'
}
# A hypothesis of the right shape, far from any secret: every weight zero.
/usr/bin/python3 - "$work/zeros.json" <<'PY'
import json, sys
zero = [[0.0] * 4 for _ in range(4)]
json.dump({"heads": [{"wq": zero, "wk": zero, "wv": zero, "wo": zero}]},
          open(sys.argv[1], "w"))
PY

PAGE_URL=$page SERVER=127.0.0.1:$ATTN_PORT \
  ORACLE_CLIENT=$build_dir/bin/oracle-client \
  ALICE_TOKEN=$(token_of alice) BOB_TOKEN=$(token_of bob) \
  BAD_PARAMS=$work/zeros.json SCREENSHOT_DIR=$shots \
  NODE_PATH=$install_dir/node_modules \
  node "$here/leaderboard_test.js"
