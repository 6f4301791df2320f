#!/usr/bin/env bash
# Removes the AttnOracle stack docker/up.sh started: its containers, its
# network (podman-compose leaves <project>_default behind), its volumes (the
# PostgreSQL data and the replicas' files: everything the stack recorded) and
# its state directory (secrets and logs). Images stay with --keep-images.
#   docker/down.sh
#   docker/down.sh --keep-images     # the next up.sh starts faster
# Options:
#   --project NAME    compose project name (attnoracle)
#   --state DIR       the state directory up.sh used (docker/state)
#   --keep-images     keep the images (the base image is always kept:
#                     docker/base.sh --rebuild makes it again)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}
engine=${CONTAINER_ENGINE:-podman}

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
project=attnoracle
state=$here/state
keep_images=0
need() { [ -n "${2:-}" ] || { echo "down.sh: $1 needs a value (see --help)" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help) usage; exit 0 ;;
    --project) need "$1" "${2:-}"; project=$2; shift ;;
    --state) need "$1" "${2:-}"; state=$2; shift ;;
    --keep-images) keep_images=1 ;;
    *) echo "down.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# Every container of the project, one-off learner jobs included, found by
# the label both compose tools set.
ids=$("$engine" ps -aq --filter "label=com.docker.compose.project=$project")
# podman without systemd reports it has no healthcheck timers to remove.
quiet() { "$@" 2> >(grep -v "unable to get systemd connection" >&2); }
[ -z "$ids" ] || quiet "$engine" rm -f -v -t 3 $ids >/dev/null
for v in pgdata oracle-1-data oracle-2-data oracle-3-data; do
  "$engine" volume rm -f "${project}_$v" >/dev/null 2>&1 || true
done
"$engine" network rm -f "${project}_default" >/dev/null 2>&1 || true
if [ "$keep_images" = 0 ]; then
  for i in server client postgres lb; do
    "$engine" rmi -f "localhost/attnoracle-$i:latest" >/dev/null 2>&1 || true
  done
fi
# Only what up.sh wrote there, in case --state names a folder with more.
rm -rf "$state/secrets"
rm -f "$state/compose.log" "$state/learner.out" "$state/learner.json"
rmdir "$state" 2>/dev/null || true
echo "down.sh: removed project $project$([ "$keep_images" = 1 ] && echo ", images kept")"
