#!/usr/bin/env bash
# Makes, ahead of docker/up.sh, the images that need no AttnOracle binary:
# the Debian base (docker/base.sh, debootstrap) and PostgreSQL's. Both are
# mostly downloads, so CI runs this in the background while the code
# compiles; up.sh then finds them made (a concurrent up.sh waits for this
# script rather than making them twice). Needs root, like base.sh.
#   docker/prepare.sh
# CONTAINER_ENGINE picks podman (default) or docker.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}
engine=${CONTAINER_ENGINE:-podman}
case "${1:-}" in
  "") ;;
  -h | --help) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "prepare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
esac
start=$(date +%s)
# The same lock up.sh holds while it builds images.
exec 9>/var/tmp/attnoracle-images.lock
flock 9
"$here/base.sh"
args=(build -q -t localhost/attnoracle-postgres:latest
      -f "$here/postgres/Containerfile" "$here/postgres")
[ "$engine" = podman ] && args=(build --format docker "${args[@]:1}")
"$engine" "${args[@]}" >/dev/null
echo "prepare.sh: base and PostgreSQL images ready in $(($(date +%s) - start)) s"
