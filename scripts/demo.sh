#!/usr/bin/env bash
# The main job on the embedded defaults: installs what is missing, builds,
# starts oracle-server with the built-in challenges, runs a short learner
# session through oracle-client, and stops the server.
#   scripts/demo.sh
# Environment (for a shorter run, and for tests/e2e/demo_e2e.sh):
#   ATTNORACLE_BUILD_DIR        build directory (default build)
#   ATTNORACLE_DEMO_SKIP_BUILD  1: use the binaries already built there
#   ATTNORACLE_DEMO_RUNS        the learner runs, "algo:challenge ..." (default:
#                               the twelve below)
#   ATTNORACLE_DEMO_HOLD        1: at the end, keep the server (and its web
#                               page) up until Enter is pressed
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${ATTNORACLE_DEMO_SKIP_BUILD:-}" != 1 ]; then
  echo "== building oracle-server and oracle-client (the first build takes about"
  echo "   2 minutes on two cores; ninja counts the steps as it goes)"
  scripts/build.sh --only oracle-server,oracle-client
fi
bin=${ATTNORACLE_BUILD_DIR:-build}/bin
source scripts/server_lib.sh
runs=$(mktemp -d)
trap 'attn_stop_server; rm -rf "$runs"' EXIT
attn_start_server "$bin/oracle-server" --http 127.0.0.1:0
page=$(sed -n 's/.*, page \(http:[^,]*\),.*/\1/p' <<<"$ATTN_SERVER_LINE")
client() { "$bin/oracle-client" --server "127.0.0.1:$ATTN_PORT" "$@"; }
# Each step prints the command as it can be typed in another terminal while
# the demo runs.
step() {
  printf '\n== %s\n$ %s --server 127.0.0.1:%s %s\n' "$1" "$bin/oracle-client" \
    "$ATTN_PORT" "${*:2}"
}

echo "== oracle-server is listening on 127.0.0.1:$ATTN_PORT (a free port, open mode,"
echo "   a fresh database that is removed when the demo ends)"
echo "== its web page: $page (open it in a browser: the leaderboards fill in as"
echo "   the learners below submit; the same data as JSON under ${page}api/challenges)"
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

echo
echo "== Reference learners recover the hidden layers through the same API"
echo "   (oracle-client --json learn CH --algo probe|regress; progress hidden)."
echo "   Budgets are per learner and challenge: on the noisy challenge regress"
echo "   spends 2,000 of the 20,000 tokens and probe averages over the rest."
default_runs="probe:tiny-d4 probe:single-head-d16 probe:single-head-causal-d16
  probe:last-token-d16 probe:float32-single-head-d16
  regress:noisy-single-head-d16 probe:noisy-single-head-d16
  regress:two-head-d16 regress:single-head-d16
  regress:single-head-causal-d16 regress:last-token-d16
  regress:float32-single-head-d16"
for run in ${ATTNORACLE_DEMO_RUNS:-$default_runs}; do
  algo=${run%%:*}
  ch=${run#*:}
  printf '   %-8s %-26s' "$algo" "$ch"
  if ! client --json learn "$ch" --algo "$algo" >"$runs/$algo.$ch.json" \
    2>"$runs/err"; then
    echo " FAILED"
    echo "demo: the learner failed; what it printed:" >&2
    cat "$runs/err" >&2
    echo "demo: to try it alone, start $bin/oracle-server --db=:memory: and run" >&2
    echo "      $bin/oracle-client learn $ch --algo $algo" >&2
    exit 1
  fi
  echo " done"
done
echo
/usr/bin/python3 - "$runs" <<'PY'
import glob, json, math, sys
print(f"{'challenge':<26} {'learner':<8} {'queries':>7} {'tokens':>7} {'x bound':>7} "
      f"{'func. error':>11} {'bits':>5} {'theta err':>9} {'omega err':>9} {'seconds':>7}")
rows = [json.load(open(f)) for f in sorted(glob.glob(sys.argv[1] + "/*.json"))]
for d in sorted(rows, key=lambda d: (d["challenge"], d["algo"])):
    ratio = d["tokens_to_bound"] or d["queries_to_bound"]
    print(f"{d['challenge']:<26} {d['algo']:<8} {d['queries']:>7} {d['tokens']:>7} "
          f"{ratio:>7.1f} {d['functional_rel_err']:>11.2e} {d['bits']:>5.1f} "
          f"{d.get('theta_rel_err', float('nan')):>9.1e} "
          f"{d.get('omega_rel_err', float('nan')):>9.1e} {d['seconds']:>7.2f}")
print("""
x bound      spend over the counting bound: identifiable parameters divided by
             the numbers one token returns (one sequence, for last-position
             readout); 1.0 is the least any learner could spend.
func. error  functional_rel_err: relative mean squared error of the learned
             layer's outputs against the hidden layer's, on a probe set the
             server draws from the challenge seed and never shows anyone.
bits         -log2 of the worst absolute output error on that probe set: every
             output of the learned layer is within 2^-bits of the hidden one's.
theta err    theta_rel_err / omega_rel_err: relative error of the identifiable
omega err    products Theta = Wq Wk^T * scale and Omega = Wv Wo, compared
             modulo the layer's symmetries (head order, merged heads).""")
PY
echo
echo "== The page's leaderboards, as its JSON says ($page, ${page}api/challenges):"
/usr/bin/python3 - "${page}api/challenges" <<'PY'
import json, sys, urllib.request
doc = json.load(urllib.request.urlopen(sys.argv[1], timeout=10))
for ch in doc["challenges"]:
    for row in ch["leaderboard"]:
        s = row["score"]
        err = s.get("functional_rel_err")
        print(f"   {ch['id']:<26} rank {row['rank']}  {row['learner']:<10} "
              f"error {err:.2e}  {s['tokens_used']:>6} tokens" if err is not None else
              f"   {ch['id']:<26} rank {row['rank']}  {row['learner']:<10} "
              f"{'passed' if s['passed'] else 'failed'}  {s['tokens_used']:>6} tokens")
PY
if [ "${ATTNORACLE_DEMO_HOLD:-}" = 1 ]; then
  read -r -p "== the server and $page stay up; press Enter to stop them " _ || true
fi
trap 'rm -rf "$runs"' EXIT
attn_stop_server
echo
echo "== server stopped cleanly"
