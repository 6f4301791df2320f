# Sourced by scripts and end-to-end tests: start an oracle-server on a free
# port and stop it cleanly.
#
#   source scripts/server_lib.sh
#   attn_start_server build/bin/oracle-server [--config FILE]   # sets ATTN_PORT, ATTN_SERVER_PID
#                                                              # and ATTN_SERVER_LINE (the startup line)
#   attn_stop_server                                           # SIGTERM, waits, checks exit 0
#
# Unless the arguments name a --db, the server gets a fresh database in its
# temporary directory ($ATTN_SERVER_DIR/oracle.db), removed when it stops.

attn_start_server() {
  local bin=$1
  shift
  ATTN_SERVER_DIR=$(mktemp -d)
  mkfifo "$ATTN_SERVER_DIR/stdout"
  local db=(--db "$ATTN_SERVER_DIR/oracle.db")
  case " $* " in *" --db "* | *" --db="*) db=() ;; esac
  "$bin" --listen 127.0.0.1:0 "${db[@]}" "$@" >"$ATTN_SERVER_DIR/stdout" \
    2>"$ATTN_SERVER_DIR/stderr" &
  ATTN_SERVER_PID=$!
  # The server prints one line once it listens; a blocking read on the pipe
  # waits exactly that long (or fails if the server dies first).
  exec {ATTN_SERVER_FD}<"$ATTN_SERVER_DIR/stdout"
  local line=""
  if ! read -r -t 60 -u "$ATTN_SERVER_FD" line; then
    echo "oracle-server did not start:" >&2
    cat "$ATTN_SERVER_DIR/stderr" >&2
    return 1
  fi
  ATTN_SERVER_LINE=$line
  ATTN_PORT=$(sed -n 's/.*listening on port \([0-9]*\).*/\1/p' <<<"$line")
  [ -n "$ATTN_PORT" ] || { echo "unexpected server output: $line" >&2; return 1; }
}

attn_stop_server() {
  [ -n "${ATTN_SERVER_PID:-}" ] || return 0
  kill -TERM "$ATTN_SERVER_PID" 2>/dev/null || true
  local rc=0
  wait "$ATTN_SERVER_PID" || rc=$?
  exec {ATTN_SERVER_FD}<&-
  ATTN_SERVER_PID=""
  if [ "$rc" -ne 0 ]; then
    echo "oracle-server exited with $rc:" >&2
    cat "$ATTN_SERVER_DIR/stderr" >&2
  fi
  rm -rf "$ATTN_SERVER_DIR"
  return "$rc"
}
