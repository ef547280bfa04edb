# Shared helpers of the integration tests (sourced, not a test itself).
set -euo pipefail

SRC=${SBX_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
BLD=${SBX_BUILD_DIR:-$SRC/build}
BIN=$BLD/bin
export PATH=$BIN:$PATH
TMP=$(mktemp -d /tmp/sbx-it.XXXXXX)
# A jailed plugin host runs under its own uid: it must be able to reach
# the libraries the tests build here.
chmod 755 "$TMP"
CLEANUPS=()

cleanup() {
  local i
  for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do
    eval "${CLEANUPS[$i]}" >/dev/null 2>&1 || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# expect_exit CODE CMD...: runs CMD, keeps its output in $TMP/out and
# $TMP/err, and fails unless it exits with CODE.
expect_exit() {
  local want=$1 got=0
  shift
  "$@" >"$TMP/out" 2>"$TMP/err" || got=$?
  if [ "$got" -ne "$want" ]; then
    echo "--- stdout" >&2; cat "$TMP/out" >&2
    echo "--- stderr" >&2; cat "$TMP/err" >&2
    fail "expected exit $want, got $got: $*"
  fi
}

# start_faultd: starts sbx_faultd on an ephemeral port, sets FAULTD_URL.
start_faultd() {
  local fifo=$TMP/faultd.out line
  mkfifo "$fifo"
  sbx_faultd --port 0 >"$fifo" &
  FAULTD_PID=$!
  CLEANUPS+=("kill $FAULTD_PID; wait $FAULTD_PID")
  exec 9<"$fifo"
  read -r -t 10 line <&9 || fail "sbx_faultd did not report its port"
  FAULTD_URL="http://127.0.0.1:${line#port=}"
}

# start_nginx CONTENT_DIR: serves CONTENT_DIR with nginx, sets NGINX_URL.
start_nginx() {
  NGINX_RUN=$TMP/nginx
  NGINX_URL=$("$SRC/scripts/nginx.sh" start "$1" "$NGINX_RUN")
  CLEANUPS+=("$SRC/scripts/nginx.sh stop $NGINX_RUN")
}

# json_get FILE EXPR: evaluates a Python expression over the JSON in FILE
# (bound to j) and prints the result.
json_get() {
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
