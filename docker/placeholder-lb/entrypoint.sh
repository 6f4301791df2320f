#!/bin/sh
# Writes nginx's configuration for the upstreams in ORACLE_UPSTREAMS and runs
# nginx in the foreground as the image's unprivileged user (every path it
# writes is under /tmp). A failed call moves to the next replica on a
# connection error, a timeout, 502 or 503 (what a killed replica gives).
set -eu
: "${ORACLE_UPSTREAMS:?names the replicas, host:port separated by spaces}"
listen=${LB_LISTEN:-0.0.0.0:8443}
conf=/tmp/nginx/nginx.conf
mkdir -p /tmp/nginx
{
  echo "worker_processes 1;"
  echo "pid /tmp/nginx/nginx.pid;"
  echo "error_log stderr warn;"
  echo "events { worker_connections 1024; }"
  echo "http {"
  echo "  access_log off;"
  echo "  client_body_temp_path /tmp/nginx/body;"
  echo "  proxy_temp_path /tmp/nginx/proxy;"
  echo "  fastcgi_temp_path /tmp/nginx/fastcgi;"
  echo "  uwsgi_temp_path /tmp/nginx/uwsgi;"
  echo "  scgi_temp_path /tmp/nginx/scgi;"
  # Answers and transcript pages can be large.
  echo "  client_max_body_size 0;"
  echo "  upstream oracle {"
  for u in $ORACLE_UPSTREAMS; do
    echo "    server $u max_fails=1 fail_timeout=5s;"
  done
  echo "  }"
  echo "  server {"
  echo "    listen $listen http2;"
  echo "    location / {"
  echo "      grpc_pass grpc://oracle;"
  echo "      grpc_next_upstream error timeout http_502 http_503;"
  echo "      grpc_read_timeout 600s;"
  echo "      grpc_send_timeout 600s;"
  echo "    }"
  echo "  }"
  echo "}"
} >"$conf"
exec nginx -c "$conf" -g "daemon off;"
