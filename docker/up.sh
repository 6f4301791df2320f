#!/usr/bin/env bash
# Builds what is missing and starts the AttnOracle stack of docker/compose.yaml:
# PostgreSQL, three oracle-server replicas, the gRPC load balancer, then the
# one-shot learner job through the balancer. Waits until every service is
# healthy and prints the address to use and where the admin token is.
#   docker/up.sh                     # podman (installed through scripts/deps.sh docker)
#   docker/up.sh --portable          # binaries for any x86-64 (ATTNORACLE_NATIVE=OFF)
#   CONTAINER_ENGINE=docker docker/up.sh   # a Docker engine with compose v2
# Options:
#   --project NAME     compose project name (attnoracle)
#   --publish ADDR     host address of the balancer (127.0.0.1:50051)
#   --config FILE      the ChallengeSet every replica loads (configs/default.textproto)
#   --state DIR        secrets, logs and the learner's result (docker/state)
#   --store KIND       postgres (the default: the three replicas share one
#                      PostgreSQL database) or sqlite (each replica its own
#                      file and the balancer sends every call to oracle-1)
#   --build-dir DIR    where the binaries are built ($ATTNORACLE_BUILD_DIR, build;
#                      build-portable with --portable)
#   --portable         build the binaries without -march=native, for images
#                      meant for other machines
#   --rebuild-base     make the Debian base image again
#   --no-learner       do not run the learner job
#   --timeout SECONDS  how long to wait for the services to be healthy (180)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}
engine=${CONTAINER_ENGINE:-podman}

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; }
project=attnoracle
publish=127.0.0.1:50051
config=$root/configs/default.textproto
state=$here/state
store=postgres
build_dir=${ATTNORACLE_BUILD_DIR:-}
portable=0
rebuild_base=()
learner=1
timeout_s=180
need() { [ -n "${2:-}" ] || { echo "up.sh: $1 needs a value (see --help)" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --project) need "$1" "${2:-}"; project=$2; shift ;;
    --publish) need "$1" "${2:-}"; publish=$2; shift ;;
    --config) need "$1" "${2:-}"; config=$(realpath "$2"); shift ;;
    --state) need "$1" "${2:-}"; mkdir -p "$2"; state=$(realpath "$2"); shift ;;
    --store) need "$1" "${2:-}"; store=$2; shift ;;
    --build-dir) need "$1" "${2:-}"; build_dir=$2; shift ;;
    --portable) portable=1 ;;
    --rebuild-base) rebuild_base=(--rebuild) ;;
    --no-learner) learner=0 ;;
    --timeout) need "$1" "${2:-}"; timeout_s=$2; shift ;;
    *) echo "up.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$store" in postgres | sqlite) ;; *)
  echo "up.sh: --store is postgres or sqlite, not \"$store\"" >&2; exit 2 ;;
esac
[ -r "$config" ] || { echo "up.sh: --config $config cannot be read" >&2; exit 2; }
case "$engine" in
  podman) compose=(podman-compose -p "$project") ;;
  docker) compose=(docker compose -p "$project") ;;
  *) echo "up.sh: CONTAINER_ENGINE is podman or docker, not \"$engine\"" >&2; exit 2 ;;
esac
[ -n "$build_dir" ] || { [ "$portable" = 1 ] && build_dir=build-portable || build_dir=build; }
case "$build_dir" in /*) ;; *) build_dir=$root/$build_dir ;; esac

up_start=$(date +%s)
step() { echo "up.sh: [$(($(date +%s) - up_start)) s] $*" >&2; }
mkdir -p "$state"
log=$state/compose.log
: >"$log"

[ "$engine" = podman ] && "$root/scripts/deps.sh" docker

# 1. The binaries: brought up to date by ninja where the build directory
# exists (a no-op when it is), else configured and built.
native=ON
[ "$portable" = 1 ] && native=OFF
if [ -f "$build_dir/build.ninja" ]; then
  if [ "$portable" = 1 ] && ! grep -q '^ATTNORACLE_NATIVE:BOOL=OFF' "$build_dir/CMakeCache.txt"; then
    echo "up.sh: --portable, but $build_dir is configured with -march=native; pick another --build-dir" >&2
    exit 2
  fi
  step "bringing oracle-server and oracle-client up to date in $build_dir"
  ninja -C "$build_dir" oracle-server oracle-client >>"$log"
else
  step "building oracle-server and oracle-client in $build_dir (ATTNORACLE_NATIVE=$native)"
  ATTNORACLE_BUILD_DIR=$build_dir "$root/scripts/build.sh" --only oracle-server,oracle-client \
    -DATTNORACLE_NATIVE=$native >>"$log"
fi

# 2. The images. The binaries are staged (hard links) in a context of their
# own so the engine is handed two files, not the build tree.
build_image() {  # NAME CONTAINERFILE CONTEXT
  local args=(build -q -t "localhost/attnoracle-$1:latest" -f "$2" "$3")
  [ "$engine" = podman ] && args=(build --format docker -q -t "localhost/attnoracle-$1:latest" -f "$2" "$3")
  step "image attnoracle-$1"
  "$engine" "${args[@]}" >>"$log" 2>&1 || { tail -20 "$log" >&2; exit 1; }
}
# Image builds wait for a docker/prepare.sh at work on the same images.
exec 9>/var/tmp/attnoracle-images.lock
flock 9
"$here/base.sh" "${rebuild_base[@]}"
context=$build_dir/image-context
rm -rf "$context"
mkdir -p "$context/bin"
cp -l "$build_dir/bin/oracle-server" "$build_dir/bin/oracle-client" "$context/bin/" 2>/dev/null ||
  cp "$build_dir/bin/oracle-server" "$build_dir/bin/oracle-client" "$context/bin/"
build_image server "$here/server.Containerfile" "$context"
build_image client "$here/client.Containerfile" "$context"
build_image postgres "$here/postgres/Containerfile" "$here/postgres"
build_image lb "$here/lb/Containerfile" "$here/lb"
exec 9>&-

# 3. Secrets, made once per state directory (the PostgreSQL volume keeps the
# password it was made with), readable only by the uid that needs them.
secrets=$state/secrets
mkdir -p "$secrets"
chmod 755 "$secrets"
random() { head -c 24 /dev/urandom | base64 | tr -d '/+=\n'; }
[ -s "$secrets/admin-token" ] || random >"$secrets/admin-token"
[ -s "$secrets/pg-password" ] || random >"$secrets/pg-password"
echo "postgres:5432:attnoracle:attnoracle:$(head -n 1 "$secrets/pg-password")" >"$secrets/pgpass"
chown 10001:10001 "$secrets/admin-token" "$secrets/pgpass"
chown 10002:10002 "$secrets/pg-password"
chmod 0400 "$secrets/admin-token" "$secrets/pgpass" "$secrets/pg-password"

# 4. The store.
export ATTNORACLE_SECRETS=$secrets ATTNORACLE_CONFIG=$config ATTNORACLE_PUBLISH=$publish
if [ "$store" = sqlite ]; then
  export ATTNORACLE_DB=/var/lib/attnoracle/attnoracle.db ORACLE_UPSTREAMS=oracle-1:50051
  step "store: SQLite, one file per replica; the balancer sends every call to oracle-1"
else
  unset ATTNORACLE_DB ORACLE_UPSTREAMS
  step "store: PostgreSQL, shared by the three replicas"
fi

# 5. Start in the order of compose.yaml's depends_on conditions, waiting for
# each stage's healthchecks (podman-compose ignores the conditions, and
# without systemd podman runs no healthcheck by itself: this loop runs them).
healthy() {  # SERVICE
  if [ "$engine" = podman ]; then
    podman healthcheck run "${project}_$1_1" >/dev/null 2>&1
  else
    local id
    id=$(docker compose -p "$project" ps -q "$1")
    [ -n "$id" ] && [ "$(docker inspect -f '{{.State.Health.Status}}' "$id")" = healthy ]
  fi
}
deadline=$(($(date +%s) + timeout_s))
start_stage() {  # SERVICE...
  step "starting $*"
  (cd "$here" && "${compose[@]}" up -d "$@") >>"$log" 2>&1
  for s in "$@"; do
    until healthy "$s"; do
      if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "up.sh: $s is not healthy after ${timeout_s} s; its log:" >&2
        "$engine" logs "${project}_${s}_1" 2>&1 | tail -20 >&2 || true
        exit 1
      fi
      sleep 1
    done
  done
}
start_stage postgres
start_stage oracle-1 oracle-2 oracle-3
start_stage lb

echo "AttnOracle is up: --server $publish (through the balancer)"
echo "admin token: $secrets/admin-token (ATTNORACLE_ADMIN_TOKEN=\$(cat $secrets/admin-token))"
echo "remove it with: docker/down.sh --project $project --state $state"

# 6. The learner job; its JSON result is kept in $state/learner.json.
if [ "$learner" = 1 ]; then
  step "learner job"
  if ! (cd "$here" && "${compose[@]}" run --rm --no-deps -T learner) >"$state/learner.out" 2>&1; then
    tail -20 "$state/learner.out" >&2
    exit 1
  fi
  # The result is the last JSON object of the job's output.
  sed -n '/^{$/,/^}$/p' "$state/learner.out" >"$state/learner.json"
  [ -s "$state/learner.json" ] || { tail -20 "$state/learner.out" >&2; exit 1; }
  cat "$state/learner.json"
fi
