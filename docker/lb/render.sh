#!/usr/bin/env bash
# Writes the load balancer's configuration (haproxy.cfg.in with its listen
# address and replicas filled in) to stdout.
#   docker/lb/render.sh LISTEN REPLICA...  > haproxy.cfg
#   docker/lb/render.sh 127.0.0.1:7000 127.0.0.1:7001 127.0.0.1:7002
#   docker/lb/render.sh 0.0.0.0:50051 replica1:50051 replica2:50051 replica3:50051
# Then: haproxy -db -f haproxy.cfg (foreground, any user).
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: render.sh LISTEN_HOST:PORT REPLICA_HOST:PORT..." >&2
  exit 2
fi
host_port='^[A-Za-z0-9._-]+:[0-9]{1,5}$'
for address in "$@"; do
  if ! [[ $address =~ $host_port ]] || [ "${address##*:}" -gt 65535 ] ||
    [ "${address##*:}" -eq 0 ]; then
    echo "render.sh: \"$address\" is not HOST:PORT with a port in 1..65535" >&2
    exit 2
  fi
done
listen=$1
shift
servers=""
i=0
for replica in "$@"; do
  i=$((i + 1))
  servers+="  server replica$i $replica"$'\n'
done
template="$(dirname "${BASH_SOURCE[0]}")/haproxy.cfg.in"
while IFS= read -r line; do
  case $line in
    @SERVERS@) printf '%s' "$servers" ;;
    *) printf '%s\n' "${line//@LISTEN@/$listen}" ;;
  esac
done <"$template"
