# Sourced by the end-to-end tests: counted checks and JSON assertions.
#
#   check "what it proves" COMMAND...     # passes when COMMAND succeeds
#   json FILE 'PYTHON EXPRESSION OVER d'  # d = the parsed document
#   finish                                # prints the tally, fails if any failed

passed=0
failed=0

check() {
  local name=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAILED: $name" >&2
  fi
}

json() {
  /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if ($2) else 1)" "$1"
}

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# expect CODE STDERR_PATTERN COMMAND...: the command exits with CODE and (when
# the pattern is not empty) prints the pattern on stderr. Its stdin is
# $E2E_IN (default /dev/null); its output lands in $E2E_OUT and $E2E_ERR.
E2E_OUT=$(mktemp)
E2E_ERR=$(mktemp)
expect() {
  local want=$1 pattern=$2
  shift 2
  local rc=0
  "$@" >"$E2E_OUT" 2>"$E2E_ERR" <"${E2E_IN:-/dev/null}" || rc=$?
  [ "$rc" -eq "$want" ] && { [ -z "$pattern" ] || grep -q -- "$pattern" "$E2E_ERR"; }
}
