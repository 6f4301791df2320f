#!/usr/bin/env bash
# The container deployment end to end: docker/up.sh builds the images from
# BUILD_DIR's binaries and starts the stack of docker/compose.yaml under a
# project name of its own on a free loopback port; its learner job learns a
# built-in challenge through the balancer; this script then checks the score,
# reads the leaderboard through the balancer from the host, and tears the
# stack down (on failure too) and checks nothing of it is left. Prints the
# wall time of each step. The images are kept for the next run's layer
# cache (docker/down.sh without --keep-images removes them); the base image
# is made only when missing (debootstrap, about 3 minutes).
#   docker_e2e.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir=$(realpath "$1")
root=$(realpath "$2")
export CONTAINERS_CONF=$root/docker/containers.conf
# The probe learner recovers single-head-d16 exactly up to rounding (about
# 1e-21 here); 1e-9 leaves room for any machine's float64 and no more.
challenge=single-head-d16
max_functional_rel_err=1e-9
# The replicas' store: PostgreSQL shared by the three replicas behind the
# balancer (the deployment's layout; the learner job waits until its
# registration has reached every replica), or, with
# ATTNORACLE_DOCKER_TEST_STORE=sqlite, one file per replica and the balancer
# on oracle-1 alone.
store=${ATTNORACLE_DOCKER_TEST_STORE:-postgres}

project=attnoracle-test-$$
state=$(mktemp -d /tmp/attnoracle-docker-test.XXXXXX)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start=$(date +%s)
elapsed() { echo $(($(date +%s) - start)); }
fail() { echo "FAIL: $*" >&2; exit 1; }

teardown() {
  local down_start
  down_start=$(date +%s)
  "$root/docker/down.sh" --project "$project" --state "$state" --keep-images >/dev/null || true
  rm -rf "$state"
  echo "docker test: down in $(($(date +%s) - down_start)) s; total $(elapsed) s"
}
trap teardown EXIT

"$root/scripts/deps.sh" docker
if podman image exists localhost/attnoracle-base:bookworm; then
  echo "docker test: base image present (reused)"
else
  base_start=$(date +%s)
  "$root/docker/base.sh"
  echo "docker test: base image made in $(($(date +%s) - base_start)) s (debootstrap)"
fi

up_start=$(date +%s)
"$root/docker/up.sh" --build-dir "$build_dir" --project "$project" \
  --publish "127.0.0.1:$port" --state "$state" --store "$store" || fail "docker/up.sh failed"
echo "docker test: up (images, stack healthy, learner job) in $(($(date +%s) - up_start)) s"

# The learner's score, from the job's JSON.
[ -s "$state/learner.json" ] || fail "the learner job left no result"
python3 - "$state/learner.json" "$challenge" "$max_functional_rel_err" <<'PY' || fail "learner score"
import json, sys
result = json.load(open(sys.argv[1]))
bound = float(sys.argv[3])
assert result["challenge"] == sys.argv[2], result["challenge"]
err = result["functional_rel_err"]
print(f"docker test: learner {result['algo']} on {result['challenge']}: "
      f"functional_rel_err {err:.3e} (bound {bound:.0e}), {result['queries']} queries")
assert err < bound, f"functional_rel_err {err} >= {bound}"
assert result["submission_id"] >= 1, result
PY

# From the host through the published balancer: health, and the job's
# submission on the leaderboard (read with the admin token).
client=$build_dir/bin/oracle-client
"$client" --server "127.0.0.1:$port" health >/dev/null || fail "balancer not SERVING from the host"
ATTNORACLE_ADMIN_TOKEN=$(cat "$state/secrets/admin-token") \
  "$client" --server "127.0.0.1:$port" --json leaderboard "$challenge" >"$state/board.json" ||
  fail "leaderboard through the balancer"
python3 - "$state/board.json" <<'PY' || fail "leaderboard"
import json, sys
entries = json.load(open(sys.argv[1]))["entries"]
jobs = [e for e in entries if e["learner"].startswith("job-")]
assert len(jobs) == 1, entries
print(f"docker test: leaderboard through the balancer: {jobs[0]['learner']} ranked {jobs[0]['rank']}")
PY

# Each replica's own view: the job's submission, made through one replica,
# is on every replica's leaderboard (the PostgreSQL layout only: with
# SQLite, oracle-2 and oracle-3 have files of their own).
if [ "$store" = postgres ]; then
  for r in 1 2 3; do
    podman exec -e ATTNORACLE_ADMIN_TOKEN="$(cat "$state/secrets/admin-token")" \
      "${project}_oracle-${r}_1" oracle-client --server 127.0.0.1:50051 --json \
      leaderboard "$challenge" >"$state/board-$r.json" || fail "leaderboard through oracle-$r"
  done
  python3 - "$state"/board.json "$state"/board-{1,2,3}.json <<'PY' || fail "replicas' leaderboards"
import json, sys
boards = [json.load(open(p))["entries"] for p in sys.argv[1:]]
assert all(b == boards[0] for b in boards), boards
print(f"docker test: the same leaderboard through the balancer and each of 3 replicas")
PY
fi

# The balancer stops on its stop signal, well before podman's 3 s of
# down.sh would kill it.
stop_start=$(date +%s%N)
podman stop -t 10 "${project}_lb_1" >/dev/null 2>&1 || fail "stopping the balancer"
stop_ms=$((($(date +%s%N) - stop_start) / 1000000))
echo "docker test: balancer stopped in $stop_ms ms"
[ "$stop_ms" -lt 3000 ] || fail "the balancer took $stop_ms ms to stop (3000 at most)"

# Down, then nothing of the project may be left.
trap - EXIT
teardown
left=$(podman ps -aq --filter "label=com.docker.compose.project=$project")
[ -z "$left" ] || fail "containers left: $left"
! podman network exists "${project}_default" || fail "network ${project}_default left"
for v in pgdata oracle-1-data oracle-2-data oracle-3-data; do
  ! podman volume exists "${project}_$v" || fail "volume ${project}_$v left"
done
echo "docker test: passed"
