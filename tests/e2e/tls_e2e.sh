#!/usr/bin/env bash
# TLS end to end: a throwaway CA made with openssl, the real oracle-server
# with TLS and with mutual TLS on port 0, and the real oracle-client (and
# load-client) trusting the right CA, the wrong one, or none.
# Usage: tls_e2e.sh ORACLE_SERVER ORACLE_CLIENT LOAD_CLIENT REPO_ROOT
set -euo pipefail
server_bin=$1
client_bin=$2
load_bin=$3
source "$4/scripts/server_lib.sh"
source "$4/tests/e2e/e2e_lib.sh"
work=$(mktemp -d)
trap 'attn_stop_server || true; rm -rf "$work"' EXIT

# The certificates: a CA, a server certificate it signs for 127.0.0.1 and
# localhost, a client certificate it signs, and an unrelated CA with a client
# certificate of its own. P-256 keys, valid for two days.
new_ca() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -days 2 -subj "/CN=$2" -keyout "$work/$1.key" -out "$work/$1.pem" 2>/dev/null
}
new_leaf() { # NAME CA SUBJECT_CN EXTENSION
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj "/CN=$3" -keyout "$work/$1.key" -out "$work/$1.csr" 2>/dev/null
  printf '%s\n' "$4" >"$work/$1.ext"
  openssl x509 -req -in "$work/$1.csr" -CA "$work/$2.pem" -CAkey "$work/$2.key" \
    -CAcreateserial -days 2 -extfile "$work/$1.ext" -out "$work/$1.pem" 2>/dev/null
}
new_ca ca "test CA"
new_ca other-ca "other CA"
new_leaf server ca localhost "subjectAltName=IP:127.0.0.1,DNS:localhost"
new_leaf client ca alice "extendedKeyUsage=clientAuth"
new_leaf stranger other-ca mallory "extendedKeyUsage=clientAuth"

client() { "$client_bin" --server "127.0.0.1:$ATTN_PORT" --timeout 10 "$@"; }
echo '{"sequences": [[[1, 0, 0, 0]]]}' >"$work/q.json"

# TLS: clients that trust the CA are answered, others refused.
attn_start_server "$server_bin" --tls_cert "$work/server.pem" --tls_key "$work/server.key"
check "startup line says tls" grep -q ", tls, " <<<"$ATTN_SERVER_LINE"
client --tls_ca "$work/ca.pem" --json challenges >"$work/list.json"
check "challenges over tls" json "$work/list.json" "len(d['challenges']) == 16"
client --tls-ca "$work/ca.pem" --json query tiny-d4 --input "$work/q.json" >"$work/a.json"
check "query over tls (dash spelling)" json "$work/a.json" \
  "len(d['outputs']) == 1 and d['usage']['queries_used'] == 1"
# The DNS name is checked through the override rather than by dialling
# localhost: gRPC's DNS resolver (c-ares) leaks a few bytes per process,
# which fails the sanitizer build.
check "server name override matching the certificate's DNS name" \
  expect 0 "" client --tls_ca "$work/ca.pem" --tls_server_name localhost usage tiny-d4
check "plaintext client refused, told to try TLS" \
  expect 1 "UNAVAILABLE: .*if it serves TLS, connect with --tls-ca" client challenges
check "client trusting another CA refused" \
  expect 1 "UNAVAILABLE" client --tls_ca "$work/other-ca.pem" challenges
check "server name the certificate lacks refused" \
  expect 1 "UNAVAILABLE" client --tls_ca "$work/ca.pem" --tls_server_name elsewhere.example challenges
check "missing CA file is a usage error naming it" \
  expect 2 "$work/nope.pem" client --tls_ca "$work/nope.pem" challenges
check "client cert without key is a usage error" \
  expect 2 "needs its private key" client --tls_ca "$work/ca.pem" --tls_cert "$work/client.pem" challenges
client --tls_ca "$work/ca.pem" --json usage tiny-d4 >"$work/u.json"
check "refused clients were charged nothing" json "$work/u.json" \
  "d['usage']['queries_used'] == 1"
"$load_bin" --server "127.0.0.1:$ATTN_PORT" --challenge single-head-d16 --threads 2 \
  --sequences 1 --tokens 1 --seconds 0.2 --tls_ca "$work/ca.pem" >"$work/load.out"
tail -n 1 "$work/load.out" >"$work/load.json"
check "load-client over tls" json "$work/load.json" \
  "d['answered_queries'] > 0 and d['failed_requests'] == 0"
check "server stopped cleanly" attn_stop_server

# Mutual TLS: a client certificate signed by the CA is required.
attn_start_server "$server_bin" --tls-cert "$work/server.pem" --tls-key "$work/server.key" \
  --tls-client-ca "$work/ca.pem"
check "startup line says mutual tls" grep -q ", mutual tls, " <<<"$ATTN_SERVER_LINE"
check "client without a certificate refused" \
  expect 1 "UNAVAILABLE" client --tls_ca "$work/ca.pem" challenges
check "client with a certificate of another CA refused" \
  expect 1 "UNAVAILABLE" client --tls_ca "$work/ca.pem" \
  --tls_cert "$work/stranger.pem" --tls_key "$work/stranger.key" challenges
check "plaintext client refused by mutual tls" expect 1 "UNAVAILABLE" client challenges
client --tls_ca "$work/ca.pem" --tls_cert "$work/client.pem" --tls_key "$work/client.key" \
  --json query tiny-d4 --input "$work/q.json" >"$work/a.json"
check "client with the CA's certificate is answered" json "$work/a.json" \
  "len(d['outputs']) == 1 and d['usage']['queries_used'] == 1"
check "server stopped cleanly" attn_stop_server

# Bad TLS setups stop the server with a message naming the file, and no key
# material in it.
server_fails() { # PATTERN FLAGS...
  local pattern=$1
  shift
  local rc=0
  expect 1 "$pattern" "$server_bin" --listen 127.0.0.1:0 --db :memory: "$@" || rc=$?
  cat "$E2E_ERR" >>"$work/server_errors"
  return "$rc"
}
check "missing certificate file" server_fails "cannot read TLS certificate file \"$work/nope.pem\"" \
  --tls_cert "$work/nope.pem" --tls_key "$work/server.key"
check "certificate without key" server_fails "only the certificate \"$work/server.pem\"" \
  --tls_cert "$work/server.pem"
check "a certificate where the key belongs" server_fails "TLS key file \"$work/ca.pem\" holds no" \
  --tls_cert "$work/server.pem" --tls_key "$work/ca.pem"
check "the key of another certificate" server_fails "\"$work/client.key\" does not belong" \
  --tls_cert "$work/server.pem" --tls_key "$work/client.key"
check "missing client CA file" server_fails "$work/nope-ca.pem" \
  --tls_cert "$work/server.pem" --tls_key "$work/server.key" --tls_client_ca "$work/nope-ca.pem"
check "five messages, none with PEM text" \
  bash -c '[ "$(wc -l <"$1")" -eq 5 ] && ! grep -q "BEGIN\|PRIVATE\|MII" "$1"' _ "$work/server_errors"

# Competition mode without TLS warns when tokens would cross a network.
echo "e2e-admin-token" >"$work/admin.token"
attn_start_server "$server_bin" --admin_token_file "$work/admin.token" --listen 0.0.0.0:0
check "warning on a non-loopback plaintext listener" \
  grep -q "warning: competition mode without TLS on 0.0.0.0:0" "$ATTN_SERVER_DIR/stderr"
check "server stopped cleanly" attn_stop_server
attn_start_server "$server_bin" --admin_token_file "$work/admin.token"
check "no warning on loopback" bash -c '! grep -q warning "$1"' _ "$ATTN_SERVER_DIR/stderr"
check "server stopped cleanly" attn_stop_server
attn_start_server "$server_bin" --admin_token_file "$work/admin.token" --listen 0.0.0.0:0 \
  --tls_cert "$work/server.pem" --tls_key "$work/server.key"
check "no warning with tls" bash -c '! grep -q warning "$1"' _ "$ATTN_SERVER_DIR/stderr"
check "server stopped cleanly" attn_stop_server

finish
