#!/usr/bin/env bash
# Installs the Debian 12 packages AttnOracle builds and tests with, when any
# is missing. Needs root (or sudo) only when something must be installed.
#   scripts/deps.sh          # build and test
#   scripts/deps.sh fuzz     # and clang, for scripts/fuzz.sh and
#                            # scripts/thread_safety.sh
#   scripts/deps.sh teaching # and the Jupyter notebook server, to open the
#                            # lessons of docs/teaching/ in a browser
#   scripts/deps.sh docker   # and podman, podman-compose and debootstrap, for
#                            # docker/up.sh and the container test
#   scripts/deps.sh fuzz docker   # several sets at once, in one apt-get
set -euo pipefail
for set in "$@"; do
  case "$set" in fuzz | teaching | docker) ;; *)
    echo "deps.sh: unknown set \"$set\" (fuzz, teaching or docker)" >&2; exit 2 ;;
  esac
done
sets=("$@")
wants() {  # SET: was it asked for?
  local s
  for s in "${sets[@]}"; do [ "$s" = "$1" ] && return 0; done
  return 1
}

packages=(
  build-essential cmake ninja-build pkg-config git python3 clang-format
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libeigen3-dev libabsl-dev nlohmann-json3-dev libssl-dev libsqlite3-dev
  libgtest-dev libgmock-dev libbenchmark-dev libjemalloc-dev openssl
  libcpp-httplib-dev
  # The PostgreSQL store (libpq) and the throwaway clusters its tests start.
  libpq-dev postgresql-15
  # The Python package (client/python), its tests, the budget studies' plots
  # and the notebooks' execution by the tests.
  python3-grpcio python3-protobuf python3-numpy python3-matplotlib
  python3-pytest jupyter-nbconvert python3-nbclient python3-ipykernel
  # The load balancer of docker/lb, started by the lb and fault tests.
  haproxy
  # The browser test (tests/browser): chromium, driven by puppeteer-core
  # from npm.
  chromium nodejs
)
# A nodejs from elsewhere (NodeSource) carries its own npm, which Debian's
# npm package would conflict with.
command -v npm >/dev/null 2>&1 || packages+=(npm)
# clang 14 with its sanitizer and libFuzzer runtimes, and llvm-symbolizer
# for readable stacks in crash reports.
if wants fuzz; then
  packages+=(clang libclang-rt-14-dev llvm-14)
fi
if wants teaching; then
  packages+=(jupyter-notebook)
fi
# podman as root with runc (docker/containers.conf says why), its networking
# (netavark, aardvark-dns for service names), and debootstrap for the base
# image.
if wants docker; then
  packages+=(podman buildah podman-compose debootstrap runc slirp4netns uidmap
    fuse-overlayfs netavark aardvark-dns containernetworking-plugins iptables)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]} (apt-get; a few minutes on a fresh machine)" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
