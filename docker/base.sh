#!/usr/bin/env bash
# Makes the Debian 12 base image the AttnOracle images build FROM,
# localhost/attnoracle-base:bookworm, with debootstrap from the Debian mirror
# apt uses on this machine (no container registry is needed). Skips when the
# image exists. Needs root (debootstrap, podman).
#   docker/base.sh             # make it once
#   docker/base.sh --rebuild   # make it again
# ATTNORACLE_DEBIAN_MIRROR overrides the mirror; CONTAINER_ENGINE picks
# podman (default) or docker.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$here/containers.conf}
engine=${CONTAINER_ENGINE:-podman}
image=localhost/attnoracle-base:bookworm

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }
rebuild=0
for arg in "$@"; do
  case "$arg" in
    --rebuild) rebuild=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "base.sh: unknown argument $arg (see --help)" >&2; exit 2 ;;
  esac
done

# One maker at a time: a second caller (the container test while
# docker/prepare.sh is still at work) waits here, then finds the image.
exec 9>/var/tmp/attnoracle-base.lock
flock 9
if [ "$rebuild" = 0 ] && "$engine" image inspect "$image" >/dev/null 2>&1; then
  echo "base image $image exists (--rebuild makes it again)"
  exit 0
fi

# The mirror of the first "deb" source apt reads (deb822 or one-line form).
mirror=${ATTNORACLE_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
  mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' \
    /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
fi
if [ -z "$mirror" ]; then
  mirror=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' \
    /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}

rootfs=$(mktemp -d /var/tmp/attnoracle-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
start=$(date +%s)
echo "base.sh: debootstrap bookworm from $mirror (about 2.5 minutes)" >&2
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
  tail -20 "$rootfs.log" >&2
  rm -f "$rootfs.log"
  exit 1
}
rm -f "$rootfs.log"
# Package lists and caches are fetched again by each image's apt-get.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/archives/*.deb
tar -C "$rootfs" -c . | "$engine" import - "$image" >/dev/null
echo "base.sh: made $image in $(($(date +%s) - start)) s"
