#!/bin/sh
# The balancer's container entrypoint: renders haproxy.cfg.in for the
# replicas in ORACLE_UPSTREAMS (host:port, space separated) listening on
# LB_LISTEN (default 0.0.0.0:8443), then runs HAProxy in the foreground as
# the current user. Runs outside a container too:
#   ORACLE_UPSTREAMS="127.0.0.1:7001 127.0.0.1:7002" LB_LISTEN=127.0.0.1:7000 \
#     LB_DIR=scratch/lb docker/lb/entrypoint.sh
set -eu
: "${ORACLE_UPSTREAMS:?names the replicas, host:port separated by spaces}"
listen=${LB_LISTEN:-0.0.0.0:8443}
dir=${LB_DIR:-/tmp/attnoracle-lb}
mkdir -p "$dir"
# Word splitting of ORACLE_UPSTREAMS is meant: one argument per replica.
# shellcheck disable=SC2086
bash "$(dirname "$0")/render.sh" "$listen" $ORACLE_UPSTREAMS >"$dir/haproxy.cfg"
exec haproxy -db -f "$dir/haproxy.cfg"
