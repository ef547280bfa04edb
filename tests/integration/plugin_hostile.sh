# Hostile plugins (tests/plugins/hostile_*.c) through `sbx test --plugin`:
# whatever the library does, sbx exits with a verdict (never a crash of its
# own), the run records the misdeed in the right error class, and nothing
# outside the jail changed: no file created in /tmp or next to the library,
# no TCP connection reached a listener on 127.0.0.1, a world-readable
# secret stayed unread, the test's own shell (offered as a victim) lives,
# no process of the plugin's host is left behind, and (as root) neither is
# any of its cgroup directories. One crash-type and one timeout-type plugin
# also run over the shared-memory ring (--ipc ring).
#
# Plugins whose misdeed the jail refuses gracefully answer normally (echo),
# so their run PASSes; an escape would change their answer ("ESCAPED: ...")
# and fail the checks. Works as root (every layer) and as non-root (no
# cgroups), and in the sanitizer build (SBX_BUILD_DIR=build-asan).
source "$(dirname "$0")/lib/common.bash"

SCEN=$SRC/tests/fixtures/scenarios/plugin-echo
PLUGINS=$BLD/tests/plugins
OWNDIR_FILE=$PLUGINS/sbx-hostile-owndir
FAILS=()

[ -x "$BIN/sbx-plugin-host" ] || fail "no $BIN/sbx-plugin-host: build it first"
sbx test --help 2>&1 | grep -q -- '--plugin' || fail "sbx test has no --plugin"

# Leftovers of an earlier, failed run would fake an escape.
rm -f /tmp/sbx-hostile-* "$OWNDIR_FILE"

# A listener that counts the connections it accepts.
python3 - "$TMP/port" "$TMP/conns" <<'PY' &
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(64)
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
n = 0
while True:
    c, _ = s.accept()
    n += 1
    open(sys.argv[2], "w").write(str(n))
    c.close()
PY
LISTENER=$!
CLEANUPS+=("kill $LISTENER")
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
PORT=$(cat "$TMP/port")

# A secret any local user could read: only the jail keeps it from a plugin.
SECRET_DIR=$(mktemp -d /tmp/sbx-secret.XXXXXX)
CLEANUPS+=("rm -rf $SECRET_DIR")
chmod 755 "$SECRET_DIR"
echo "the launch codes" >"$SECRET_DIR/secret"
chmod 644 "$SECRET_DIR/secret"

# The hosts' cgroup directories (named sbx-plugin-*), one per line.
cg_list() {
  ls -d /sys/fs/cgroup/sbx/sbx-plugin-* /sys/fs/cgroup/*/sbx/sbx-plugin-* \
    2>/dev/null | sort || true
}

problem() {
  echo "FAIL [$1]: $2" >&2
  FAILS+=("$1")
}

# hostile NAME EXITS CLASSES [CONFIG]: runs the plugin; EXITS are the
# acceptable exit codes, CLASSES the error classes that must all appear,
# comma-separated ("none": no error at all and verdict PASS; "A|B": A or
# B). With IPC=ring in the environment the frames go through the
# shared-memory ring.
hostile() {
  local name=$1 exits=$2 classes=$3 config=${4:-} rc=0 lib json
  local ipc=${IPC:-socket} tag=$1
  [ "$ipc" = socket ] || tag=$name-$ipc
  lib=$PLUGINS/libhostile_$name.so
  json=$TMP/$tag.json
  local args=(test --scenario "$SCEN" --plugin "$lib" --json "$json"
              --data-dir "$TMP/data" --quiet --no-progress --ipc "$ipc")
  if [ -n "$config" ]; then
    printf '%s' "$config" >"$TMP/$tag.cfg"
    args+=(--plugin-config "$TMP/$tag.cfg")
  fi
  echo "--- $tag" >&2
  cg_list >"$TMP/cg.before"
  timeout 180 sbx "${args[@]}" >"$TMP/$tag.out" 2>"$TMP/$tag.err" || rc=$?
  cat "$TMP/$tag.out" >&2
  case " $exits " in
    *" $rc "*) ;;
    *) problem "$tag" "exit $rc, expected one of: $exits"
       sed 's/^/    /' "$TMP/$tag.err" | tail -20 >&2
       return 0 ;;
  esac
  [ -s "$json" ] || { problem "$tag" "no JSON result"; return 0; }
  python3 - "$json" "$classes" <<'PY' || problem "$tag" "error classes"
import json, sys
j = json.load(open(sys.argv[1]))
m = j["metrics"]
by = {e["error"].replace("ERROR_CLASS_", ""): int(e.get("count", 0))
      for e in m.get("errorsByClass", [])}
want = sys.argv[2]
print("    verdict", j["verdict"], "requests", m.get("requests"),
      "errors", by, "layers", ",".join(j.get("jailLayers", [])),
      file=sys.stderr)
if j.get("errorMessage"):
    print("    message", j["errorMessage"][:300], file=sys.stderr)
clean = not by and j["verdict"] == "VERDICT_PASS"
for alt in want.split(","):
    ok = any((a == "none" and clean) or a in by for a in alt.split("|"))
    assert ok, f"expected {alt}"
PY
  # Nothing of the host may outlive sbx.
  local i
  for i in $(seq 20); do
    pgrep -f "libhostile_$name.so" >/dev/null || break
    sleep 0.1
  done
  if pgrep -f "libhostile_$name.so" >/dev/null; then
    problem "$tag" "processes left behind: $(pgrep -af "libhostile_$name.so" | head -5)"
    pkill -KILL -f "libhostile_$name.so" || true
  fi
  # Effects outside the jail.
  local f
  for f in /tmp/sbx-hostile-* "$OWNDIR_FILE"; do
    [ -e "$f" ] && { problem "$tag" "created $f"; rm -f "$f"; }
  done
  if [ -s "$TMP/conns" ]; then
    problem "$tag" "the listener on 127.0.0.1:$PORT was reached"
    rm -f "$TMP/conns"
  fi
  kill -0 "$LISTENER" 2>/dev/null || problem "$tag" "the listener died"
  # The harness removes the cgroups of the hosts it killed (or lost).
  local left
  left=$(cg_list | comm -13 "$TMP/cg.before" -)
  [ -z "$left" ] || problem "$tag" "cgroup directories left behind: $left"
  return 0
}

# Crashes: every request the host held is a CRASH; repeated deaths before
# any answer end the run as ERROR (3), else FAIL (1).
hostile segfault "1 3" CRASH
hostile abort "1 3" CRASH
hostile kill_parent "1 3" CRASH "pid=$$"
# Hangs: the late request is a TIMEOUT, the host is killed and restarted.
hostile busy_loop "1 3" TIMEOUT
hostile sleep_forever "1 3" TIMEOUT
# Lies on the wire: PROTOCOL, the host is killed.
hostile lying_frames "1 3" PROTOCOL
hostile huge_response "1 3" PROTOCOL
# Refused gracefully: the plugin answers normally and the run passes.
hostile alloc_until_refused 0 none
hostile fork_bomb 0 none
hostile exec_shell 0 none
hostile tcp_connect 0 none "port=$PORT"
hostile read_host_file 0 none "path=$SECRET_DIR/secret"
hostile write_outside 0 none
hostile bad_constructor 0 none
hostile spawn_threads 0 none
# Touching memory: malloc fails under RLIMIT_AS (PASS); without it (ASan
# builds) the memory cgroup kills the host, in create() (so the waiting
# requests time out) or later (CRASH).
hostile alloc_touch "0 1 3" "none|CRASH|TIMEOUT"
# The same containment over the shared-memory ring.
IPC=ring hostile segfault "1 3" CRASH
IPC=ring hostile sleep_forever "1 3" TIMEOUT

# A plugin built for another ABI is refused before any of its callbacks
# runs (its create() would abort), the run ends at once, and the message
# names both versions.
rc=0
sbx test --scenario "$SCEN" --plugin "$PLUGINS/libbad_abi.so" \
  --data-dir "$TMP/data" --quiet --no-progress >"$TMP/abi.out" 2>"$TMP/abi.err" ||
  rc=$?
[ "$rc" -eq 3 ] || problem bad_abi "exit $rc, expected 3: $(cat "$TMP/abi.err")"
grep -q "plugin ABI 2, host ABI 1" "$TMP/abi.err" ||
  problem bad_abi "the refusal does not name both versions: $(cat "$TMP/abi.err")"

# The harness itself: this shell was offered to kill_parent as a victim.
kill -0 $$ || fail "the test shell was killed"

[ ${#FAILS[@]} -eq 0 ] || fail "hostile plugins not contained: ${FAILS[*]}"
echo "all hostile plugins contained" >&2
