# Helpers of the integration tests that start sandboxd (sourced after
# common.bash, not a test itself).
#
#   daemon_init DIR          sandboxd init: sets ADMIN_TOKEN
#   daemon_start DIR ARGS... starts sandboxd on 127.0.0.1:0 with --data-dir DIR
#                            and waits for its port file: sets DAEMON_PID,
#                            DAEMON_PORT, DAEMON_URL and DAEMON_LOG
#   daemon_stop              SIGTERM; fails unless it exits 0 in time
#   daemon_kill              SIGKILL (a crash), reaped
#   api METHOD JSON [TOKEN]  one unary call as application/json: the body
#                            goes to $TMP/api.body, the status to API_STATUS
#   api_ok METHOD JSON [TOKEN]  the same, fails unless 200; prints the body
#   web_static_content DIR   the web-static site (seed 42) for nginx to serve
#
# Every daemon's stderr is kept in $TMP/sandboxd.N.log; when the test fails
# the tail of each one is printed, since $TMP is removed at exit.
set -euo pipefail

SANDBOXD=${SANDBOXD:-$BIN/sandboxd}
DAEMON_PID=
DAEMON_PORT=
DAEMON_URL=
DAEMON_LOG=
DAEMON_STARTS=0
# Bounds for slow (sanitized) builds: a start or a stop that takes longer
# than this is a bug, not slowness.
DAEMON_START_TIMEOUT=${DAEMON_START_TIMEOUT:-30}
DAEMON_STOP_TIMEOUT=${DAEMON_STOP_TIMEOUT:-30}

[ -x "$SANDBOXD" ] || fail "sandboxd not found at $SANDBOXD; build it: cmake --build build --target sandboxd"
command -v curl >/dev/null || fail "curl not found; run scripts/setup.sh"

daemon__kill_quietly() {
  if [ -n "$DAEMON_PID" ]; then
    kill -KILL "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
    DAEMON_PID=
  fi
}
CLEANUPS+=("daemon__kill_quietly")

# On a failure, show what the daemons said before $TMP goes away.
daemon__on_exit() {
  local rc=$? f
  if [ "$rc" -ne 0 ]; then
    for f in "$TMP"/sandboxd.*.log; do
      [ -f "$f" ] || continue
      echo "--- last lines of $(basename "$f")" >&2
      tail -n 40 "$f" >&2 || true
    done
  fi
  cleanup
  exit "$rc"
}
trap daemon__on_exit EXIT

daemon_init() {
  local dir=$1 out
  out=$("$SANDBOXD" init --data-dir "$dir" 2>"$TMP/init.err") ||
    fail "sandboxd init --data-dir $dir failed: $(cat "$TMP/init.err")"
  ADMIN_TOKEN=$(printf '%s\n' "$out" | grep -E '^sbx_[A-Za-z0-9_-]+$' | head -n 1 || true)
  [ -n "$ADMIN_TOKEN" ] || fail "sandboxd init printed no admin token line (sbx_...): $out"
  [ -f "$dir/signing.key" ] || fail "sandboxd init made no $dir/signing.key"
  [ -f "$dir/signing.pub" ] || fail "sandboxd init made no $dir/signing.pub"
  [ "$(stat -c %a "$dir/signing.key")" = 600 ] ||
    fail "$dir/signing.key has mode $(stat -c %a "$dir/signing.key"), want 600"
}

daemon_start() {
  local dir=$1 pf i port=""
  shift
  [ -z "$DAEMON_PID" ] || fail "daemon_start: a daemon (pid $DAEMON_PID) is still running"
  DAEMON_STARTS=$((DAEMON_STARTS + 1))
  DAEMON_LOG=$TMP/sandboxd.$DAEMON_STARTS.log
  pf=$TMP/sandboxd.port
  rm -f "$pf"
  "$SANDBOXD" --data-dir "$dir" --listen 127.0.0.1:0 --port-file "$pf" "$@" \
    </dev/null >"$DAEMON_LOG" 2>&1 &
  DAEMON_PID=$!
  for ((i = 0; i < DAEMON_START_TIMEOUT * 20; i++)); do
    # A port file read half-written holds no newline-terminated number yet.
    if [ -s "$pf" ]; then
      port=$(head -n 1 "$pf" | tr -dc 0-9)
      [ -n "$port" ] && [ "$port" -gt 0 ] && break
      port=""
    fi
    if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
      wait "$DAEMON_PID" 2>/dev/null || true
      DAEMON_PID=
      fail "sandboxd exited before listening (log $DAEMON_LOG shown below)"
    fi
    sleep 0.05
  done
  [ -n "$port" ] || fail "sandboxd wrote no port to $pf within ${DAEMON_START_TIMEOUT}s"
  DAEMON_PORT=$port
  DAEMON_URL=http://127.0.0.1:$port
}

# Sanitizer reports in the current daemon's log fail the test even when
# the process had no chance to exit with an error (it was killed).
daemon__check_log() {
  if grep -q -E 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error:' "$DAEMON_LOG"; then
    grep -m 5 -E 'ERROR: (Address|Leak|Thread)Sanitizer|runtime error:' "$DAEMON_LOG" >&2
    fail "sanitizer report in $(basename "$DAEMON_LOG")"
  fi
}

daemon_stop() {
  local i rc=0
  [ -n "$DAEMON_PID" ] || return 0
  kill -TERM "$DAEMON_PID" 2>/dev/null || true
  for ((i = 0; i < DAEMON_STOP_TIMEOUT * 20; i++)); do
    kill -0 "$DAEMON_PID" 2>/dev/null || break
    # A zombie child answers kill -0 until it is reaped.
    [ "$(awk '/^State:/ { print $2 }' "/proc/$DAEMON_PID/status" 2>/dev/null)" = Z ] && break
    sleep 0.05
  done
  if kill -0 "$DAEMON_PID" 2>/dev/null &&
     [ "$(awk '/^State:/ { print $2 }' "/proc/$DAEMON_PID/status" 2>/dev/null)" != Z ]; then
    daemon__kill_quietly
    fail "sandboxd ignored SIGTERM for ${DAEMON_STOP_TIMEOUT}s"
  fi
  wait "$DAEMON_PID" || rc=$?
  DAEMON_PID=
  daemon__check_log
  [ "$rc" -eq 0 ] || fail "sandboxd exited $rc after SIGTERM (want 0)"
}

daemon_kill() {
  [ -n "$DAEMON_PID" ] || fail "daemon_kill: no daemon running"
  kill -KILL "$DAEMON_PID"
  wait "$DAEMON_PID" 2>/dev/null || true
  DAEMON_PID=
  daemon__check_log
}

api() {
  local method=$1 json=$2 token=${3:-} auth=()
  [ -z "$token" ] || auth=(-H "Authorization: Bearer $token")
  API_STATUS=$(printf '%s' "$json" |
    curl -sS --max-time 30 -o "$TMP/api.body" -w '%{http_code}' \
      -H 'Content-Type: application/json' "${auth[@]}" --data-binary @- \
      "$DAEMON_URL/sbx.v1.Sandbox/$method") ||
    fail "$method: no HTTP answer from $DAEMON_URL"
}

api_ok() {
  api "$@"
  [ "$API_STATUS" = 200 ] || fail "$1 $2: HTTP $API_STATUS: $(cat "$TMP/api.body")"
  cat "$TMP/api.body"
}

web_static_content() {
  sbx-gen-web-static --seed 42 --content "$1" --dataset "$TMP/web-static.jsonl" ||
    fail "sbx-gen-web-static failed"
  cmp -s "$TMP/web-static.jsonl" "$SRC/sandbox-specs/web-static/dataset.jsonl" ||
    fail "generated web-static dataset differs from the committed one"
}
