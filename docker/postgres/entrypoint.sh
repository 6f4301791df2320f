#!/bin/sh
# Makes the cluster on first start, then runs PostgreSQL in the foreground.
#   POSTGRES_USER (default attnoracle) owns the database POSTGRES_DB (default
#   attnoracle); its password is the first line of POSTGRES_PASSWORD_FILE.
# Connections from other containers need that password (scram-sha-256); the
# socket inside the container trusts the local postgres user only.
set -eu
bin=/usr/lib/postgresql/15/bin
user=${POSTGRES_USER:-attnoracle}
db=${POSTGRES_DB:-attnoracle}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  [ -r "${POSTGRES_PASSWORD_FILE:-}" ] || {
    echo "attnoracle-postgres: POSTGRES_PASSWORD_FILE must name a readable file" >&2
    exit 2
  }
  pwfile=$(mktemp)
  head -n 1 "$POSTGRES_PASSWORD_FILE" >"$pwfile"
  "$bin/initdb" -D "$PGDATA" -U postgres --auth-local=peer \
    --auth-host=scram-sha-256 --pwfile="$pwfile" >/dev/null
  # Clients come from the compose network, not only loopback.
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
  echo "host all all ::/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
  "$bin/pg_ctl" -D "$PGDATA" -o "-c listen_addresses= -k /run/postgresql" -w start >/dev/null
  password=$(cat "$pwfile")
  rm -f "$pwfile"
  "$bin/psql" -h /run/postgresql -U postgres -v ON_ERROR_STOP=1 -q \
    -v user="$user" -v db="$db" -v password="$password" <<'SQL'
CREATE ROLE :"user" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"user";
SQL
  "$bin/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
  echo "attnoracle-postgres: made the cluster, database $db owned by $user"
fi
exec "$bin/postgres" -D "$PGDATA" -c listen_addresses='*' -k /run/postgresql
