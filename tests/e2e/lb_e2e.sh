#!/usr/bin/env bash
# The load balancer of docker/lb on loopback: three oracle-server replicas
# (each on its own SQLite file, so each replica's usage counts the queries
# it answered), HAProxy in front of them in the foreground, oracle-client
# through it. Calls spread over the replicas; one replica killed with
# SIGKILL is found down by the active grpc.health.v1 check, reads and new
# queries keep being answered (each charged once); restarted on its port,
# it is found up and gets traffic again. Everything stops at the end, also
# on failure.
# Usage: lb_e2e.sh ORACLE_SERVER ORACLE_CLIENT REPO_ROOT
set -euo pipefail
server_bin=$1
client_bin=$2
repo=$3
source "$repo/tests/e2e/e2e_lib.sh"
work=$(mktemp -d)
replicas=3
challenge=tiny-d4
declare -a pids ports
lb_pid=""

cleanup() {
  [ -n "$lb_pid" ] && kill -TERM "$lb_pid" 2>/dev/null
  for pid in "${pids[@]}"; do
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
  done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# start_replica I [PORT]: replica I on PORT (a free one when absent), on its
# own database; returns once it listens.
start_replica() {
  local i=$1 port=${2:-0}
  rm -f "$work/r$i.out"
  mkfifo "$work/r$i.out"
  "$server_bin" --listen "127.0.0.1:$port" --db "$work/r$i.db" \
    >"$work/r$i.out" 2>>"$work/r$i.err" &
  pids[i]=$!
  local line="" fd
  exec {fd}<"$work/r$i.out"
  if ! read -r -t 60 -u "$fd" line; then
    echo "replica $i did not start:" >&2
    cat "$work/r$i.err" >&2
    return 1
  fi
  exec {fd}<&-
  ports[i]=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' <<<"$line")
}

lb() { "$client_bin" --server "127.0.0.1:$lb_port" --timeout 10 "$@"; }
one_query() { echo '{"sequences": [[[1, 2, 3, 4]]]}' | lb --json query "$challenge" >/dev/null; }
# Queries replica I has charged (its own ledger).
charged_on() {
  "$client_bin" --server "127.0.0.1:${ports[$1]}" --json usage "$challenge" |
    /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['usage']['queries_used'])"
}
charged_total() {
  local total=0 i
  for i in "$@"; do total=$((total + $(charged_on "$i"))); done
  echo "$total"
}
# wait_log PATTERN: until the balancer's log says PATTERN (20 s at most).
wait_log() {
  local tries=0
  until grep -q -- "$1" "$work/lb.log"; do
    tries=$((tries + 1))
    [ "$tries" -le 200 ] || return 1
    /usr/bin/python3 -c "import time; time.sleep(0.1)"
  done
}

for i in $(seq 1 $replicas); do start_replica "$i"; done
lb_port=$(/usr/bin/python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
upstreams=()
for i in $(seq 1 $replicas); do upstreams+=("127.0.0.1:${ports[i]}"); done
bash "$repo/docker/lb/render.sh" "127.0.0.1:$lb_port" "${upstreams[@]}" >"$work/haproxy.cfg"
check "the rendered configuration is valid" haproxy -c -q -f "$work/haproxy.cfg"
haproxy -db -f "$work/haproxy.cfg" >"$work/lb.log" 2>&1 &
lb_pid=$!
# Ready once it answers (a bounded wait: haproxy prints nothing on start).
tries=0
until lb challenges >/dev/null 2>&1; do
  tries=$((tries + 1))
  [ "$tries" -le 100 ] || { echo "the balancer did not answer:" >&2; cat "$work/lb.log" >&2; exit 1; }
  /usr/bin/python3 -c "import time; time.sleep(0.1)"
done

# 1. Calls spread: round robin over three replicas.
queries=30
ok=0
for _ in $(seq 1 $queries); do one_query && ok=$((ok + 1)); done
check "every query through the balancer answered" test "$ok" -eq "$queries"
for i in $(seq 1 $replicas); do
  n=$(charged_on "$i")
  echo "replica $i answered $n of $queries queries"
  check "replica $i got a share of the queries" test "$n" -ge $((queries / replicas - 2))
done
check "each query charged once, on one replica" test "$(charged_total 1 2 3)" -eq "$queries"

# 2. SIGKILL one replica: the health check finds it down; reads and new
# queries go on through the other two, each charged once.
kill -KILL "${pids[2]}"
wait "${pids[2]}" 2>/dev/null || true
pids[2]=""
before=$(charged_total 1 3)
reads=0 answered=0
for _ in $(seq 1 20); do
  lb challenges >/dev/null && reads=$((reads + 1))
  lb usage "$challenge" >/dev/null && reads=$((reads + 1))
  one_query && answered=$((answered + 1))
done
echo "after the kill: $reads of 40 reads and $answered of 20 queries answered"
check "reads answered while a replica is dead" test "$reads" -eq 40
check "new queries answered while a replica is dead" test "$answered" -eq 20
check "queries after the kill charged once, on the live replicas" \
  test $(($(charged_total 1 3) - before)) -eq "$answered"
check "the health check found the killed replica down" wait_log "replicas/replica2 is DOWN"

# 3. Restarted on its port (same database), it is found up and gets traffic.
start_replica 2 "${ports[2]}"
check "the health check found the restarted replica up" wait_log "replicas/replica2 is UP"
before2=$(charged_on 2)
for _ in $(seq 1 12); do one_query || true; done
after2=$(charged_on 2)
echo "restarted replica 2 answered $((after2 - before2)) of 12 queries"
check "the restarted replica gets traffic again" test "$after2" -gt "$before2"

# 4. The check asks grpc.health.v1, not just whether a port is open: an
# HTTP server that accepts connections but serves no gRPC is never up.
decoy_port=$(/usr/bin/python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
decoy_lb_port=$(/usr/bin/python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
/usr/bin/python3 -m http.server --bind 127.0.0.1 "$decoy_port" >/dev/null 2>&1 &
pids[9]=$!
tries=0
until (exec 3<>"/dev/tcp/127.0.0.1/$decoy_port") 2>/dev/null; do
  tries=$((tries + 1))
  [ "$tries" -le 100 ] || { echo "the decoy did not listen" >&2; exit 1; }
  /usr/bin/python3 -c "import time; time.sleep(0.1)"
done
bash "$repo/docker/lb/render.sh" "127.0.0.1:$decoy_lb_port" "127.0.0.1:$decoy_port" >"$work/decoy.cfg"
kill -TERM "$lb_pid"
wait "$lb_pid" 2>/dev/null || true
haproxy -db -f "$work/decoy.cfg" >"$work/lb.log" 2>&1 &
lb_pid=$!
check "a port that serves no gRPC health is found down" \
  wait_log "replicas/replica1 is DOWN, reason: Layer7"

finish
