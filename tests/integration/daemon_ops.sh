# sandboxd's operations, end to end: a webhook receives the signed result
# (byte for byte what GetResult serves) after a 503 and a retry; SIGHUP
# publishes a scenario directory that changed meanwhile; a plugin product
# is uploaded and measured in the jailed host through the API; /metrics
# counts the runs by scenario and verdict and the API calls by code; a
# config file is read and a bad one is refused with its line; a callback
# whose receiver is down is kept across a restart and sent by the next
# start.
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/daemon.bash"

PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

# --- a config file: refused with FILE:LINE when wrong, read when right
printf 'listen = 127.0.0.1:0\nlanes = zero\n' >"$TMP/bad.conf"
expect_exit 2 sandboxd --config "$TMP/bad.conf" --data-dir "$TMP/none"
grep -q "bad.conf:2: lanes: expected 1 to 64" "$TMP/err" ||
  fail "bad config: $(cat "$TMP/err")"
printf 'callback_private = maybe\n' >"$TMP/bad2.conf"
expect_exit 2 sandboxd --config "$TMP/bad2.conf" --data-dir "$TMP/none"
grep -q "bad2.conf:1: callback_private: expected allow or refuse" "$TMP/err" ||
  fail "bad callback_private: $(cat "$TMP/err")"
# The receivers below listen on 127.0.0.1, which callbacks may not reach
# by default.
printf '# ops test\nlanes = 1\nheader_deadline = 5\ncallback_private = allow\n' >"$TMP/ok.conf"

# --- scenarios from a directory we can change, then SIGHUP
mkdir -p "$TMP/specs"
cp -r "$SRC/sandbox-specs/route-plan" "$TMP/specs/"
daemon_init "$TMP/data"
daemon_start "$TMP/data" --config "$TMP/ok.conf" --scenarios "$TMP/specs"
export SBX_SERVER=$DAEMON_URL SBX_TOKEN=$ADMIN_TOKEN

expect_exit 0 sbx --json scenario list
[ "$(json_get "$TMP/out" 'len(j["scenarios"])')" = 1 ] ||
  fail "one scenario expected at start: $(cat "$TMP/out")"
cp -r "$SRC/sandbox-specs/route-plan" "$TMP/specs/route-plan-2"
sed -i 's/^version: .*/version: 2.0.0/' "$TMP/specs/route-plan-2/spec.yaml"
grep -q '^version: 2.0.0' "$TMP/specs/route-plan-2/spec.yaml" ||
  fail "could not bump the version of the copy"
kill -HUP "$DAEMON_PID"
for _ in $(seq 100); do
  sbx --json scenario list >"$TMP/list" 2>/dev/null || true
  grep -q '"2.0.0"' "$TMP/list" && break
  sleep 0.1
done
grep -q '"2.0.0"' "$TMP/list" || fail "SIGHUP did not publish route-plan@2.0.0"
grep -q "event=reload" "$DAEMON_LOG" || fail "no reload line in the log"

# --- a webhook receiver: 503 first, then 200; keeps what it got
cat >"$TMP/hook.py" <<'EOF'
import http.server, sys
state = {"n": 0}
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        state["n"] += 1
        if state["n"] == 1:
            self.send_response(503); self.send_header("Content-Length", "0"); self.end_headers()
            return
        with open(sys.argv[2], "wb") as f:
            f.write(body)
        with open(sys.argv[2] + ".hdr", "w") as f:
            f.write(self.headers.get("Content-Type", "") + "\n" + self.headers.get("X-Sbx-Run-Id", "") + "\n")
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[1], "w") as f:
    f.write(str(s.server_port))
s.serve_forever()
EOF
$PY "$TMP/hook.py" "$TMP/hook.port" "$TMP/hook.body" &
HOOK_PID=$!
CLEANUPS+=("kill $HOOK_PID")
for _ in $(seq 50); do [ -s "$TMP/hook.port" ] && break; sleep 0.1; done
[ -s "$TMP/hook.port" ] || fail "webhook receiver did not start"
HOOK_URL=http://127.0.0.1:$(cat "$TMP/hook.port")/results

# --- a plugin product, uploaded and run jailed through the API
expect_exit 0 sbx product register ops/dijkstra@1.0 \
  --plugin "$BLD/plugins/libroute_dijkstra.so" --callback "$HOOK_URL"
# Exit 0 (PASS), or 1 when a busy machine broke the latency bound: the
# answers must be right either way.
got=0
sbx run start --scenario route-plan@1.0.0 --product ops/dijkstra@1.0 \
  --warmup 0s --min-duration 1s --min-cases 200 --wait --no-progress \
  --out "$TMP/signed.sbx" >"$TMP/out" 2>"$TMP/err" || got=$?
[ "$got" = 0 ] || [ "$got" = 1 ] || fail "plugin run exit $got: $(cat "$TMP/out" "$TMP/err")"
grep -Eq "^  PASS  accuracy >= 0.999" "$TMP/out" ||
  fail "plugin run: wrong answers: $(cat "$TMP/out")"
grep -q "jail" "$TMP/out" || fail "no jail layers in the summary: $(cat "$TMP/out")"
run_id=$(sed -n 's/.*(client plugin, run \([0-9]*\)).*/\1/p' "$TMP/out")
[ -n "$run_id" ] || fail "no run id in: $(cat "$TMP/out")"

for _ in $(seq 100); do [ -s "$TMP/hook.body" ] && break; sleep 0.1; done
[ -s "$TMP/hook.body" ] || fail "the webhook never delivered (log: $(grep webhook "$DAEMON_LOG" | tail -3))"
cmp "$TMP/hook.body" "$TMP/signed.sbx" ||
  fail "the webhook body differs from the signed result GetResult serves"
[ "$(sed -n 1p "$TMP/hook.body.hdr")" = application/proto ] ||
  fail "webhook content type: $(cat "$TMP/hook.body.hdr")"
[ "$(sed -n 2p "$TMP/hook.body.hdr")" = "$run_id" ] ||
  fail "webhook run id header: $(cat "$TMP/hook.body.hdr")"
grep -q "outcome=retry" "$DAEMON_LOG" || fail "the 503 was not retried"
grep -q "outcome=delivered" "$DAEMON_LOG" || fail "no delivered line in the log"
expect_exit 0 sbx keys --out "$TMP/signing.pub"
expect_exit 0 sbx verify "$TMP/hook.body" --key "$TMP/signing.pub"

# --- a run of the same plugin against the reloaded scenario version
sbx run start --scenario route-plan --product ops/dijkstra@1.0 \
  --warmup 0s --min-duration 1s --min-cases 200 --wait --no-progress \
  >"$TMP/out" 2>"$TMP/err" || [ $? = 1 ] || fail "second run: $(cat "$TMP/err")"
grep -q "route-plan@2.0.0" "$TMP/out" ||
  fail "\"route-plan\" did not resolve to the newest version: $(head -3 "$TMP/out")"

# --- /metrics and /healthz
curl -fsS "$DAEMON_URL/metrics" >"$TMP/metrics" || fail "/metrics failed"
grep -Eq '^sbx_runs_total\{scenario="route-plan@1.0.0",verdict="(PASS|FAIL)"\} 1$' "$TMP/metrics" ||
  fail "runs_total: $(grep sbx_runs_total "$TMP/metrics")"
grep -q '^sbx_api_requests_total{code="ok",method="StartRun"} 2$' "$TMP/metrics" ||
  fail "api_requests_total: $(grep 'method="StartRun"' "$TMP/metrics")"
grep -q '^sbx_build_info{version="' "$TMP/metrics" || fail "no build info"
grep -q '^process_open_fds ' "$TMP/metrics" || fail "no process metrics"
# The product's callback gets both runs' results; the second may still be
# on its way.
grep -Eq '^sbx_webhook_deliveries_total\{outcome="delivered"\} [12]$' "$TMP/metrics" &&
  grep -q '^sbx_webhook_deliveries_total{outcome="failed"} 0$' "$TMP/metrics" ||
  fail "webhook deliveries: $(grep webhook "$TMP/metrics")"
[ "$(curl -fsS "$DAEMON_URL/healthz")" = ok ] || fail "/healthz"

# --- a callback whose receiver is down survives a restart: the run's
# result is committed with a pending callback; the daemon stops while it
# is still retrying; the next start sends it again; once it is delivered
# the record is gone and a third start sends nothing.
dead_port=$(sbx_freeport)
expect_exit 0 sbx product register ops/late-hook@1.0 \
  --plugin "$BLD/plugins/libroute_dijkstra.so" \
  --callback "http://127.0.0.1:$dead_port/late"
got=0
sbx run start --scenario route-plan@1.0.0 --product ops/late-hook@1.0 \
  --warmup 0s --min-duration 1s --min-cases 200 --wait --no-progress \
  --out "$TMP/late.sbx" >"$TMP/out" 2>"$TMP/err" || got=$?
[ "$got" = 0 ] || [ "$got" = 1 ] || fail "late-hook run exit $got: $(cat "$TMP/out" "$TMP/err")"
late_id=$(sed -n 's/.*(client plugin, run \([0-9]*\)).*/\1/p' "$TMP/out")
[ -n "$late_id" ] || fail "no run id in: $(cat "$TMP/out")"
for _ in $(seq 100); do
  grep -q "webhook run=$late_id attempt=1/.* outcome=retry" "$DAEMON_LOG" && break
  sleep 0.1
done
grep -q "webhook run=$late_id attempt=1/.* outcome=retry" "$DAEMON_LOG" ||
  fail "no failed first attempt for run $late_id: $(grep webhook "$DAEMON_LOG" | tail -3)"
daemon_stop
grep -q "webhook run=$late_id .*outcome=canceled" "$DAEMON_LOG" ||
  fail "the stop did not cancel the retry: $(grep webhook "$DAEMON_LOG" | tail -3)"

cat >"$TMP/hook2.py" <<'EOF'
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with open(sys.argv[2] + ".tmp", "wb") as f:
            f.write(body)
        os.rename(sys.argv[2] + ".tmp", sys.argv[2])
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
$PY "$TMP/hook2.py" "$dead_port" "$TMP/late.body" &
HOOK2_PID=$!
CLEANUPS+=("kill $HOOK2_PID")
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$dead_port/" && break; sleep 0.1; done

daemon_start "$TMP/data" --config "$TMP/ok.conf" --scenarios "$TMP/specs"
export SBX_SERVER=$DAEMON_URL
for _ in $(seq 100); do [ -s "$TMP/late.body" ] && break; sleep 0.1; done
[ -s "$TMP/late.body" ] ||
  fail "the pending callback was not sent after the restart: $(grep webhook "$DAEMON_LOG" | tail -3)"
cmp "$TMP/late.body" "$TMP/late.sbx" ||
  fail "the resent callback differs from the signed result"
grep -q "resent=1 pending callbacks" "$DAEMON_LOG" ||
  fail "no resent line: $(grep webhook "$DAEMON_LOG" | tail -3)"
for _ in $(seq 100); do
  grep -q "webhook run=$late_id .*outcome=delivered" "$DAEMON_LOG" && break
  sleep 0.1
done
grep -q "webhook run=$late_id .*outcome=delivered" "$DAEMON_LOG" ||
  fail "no delivered line after the restart"
daemon_stop
daemon_start "$TMP/data" --config "$TMP/ok.conf" --scenarios "$TMP/specs"
if grep -q "resent=" "$DAEMON_LOG"; then
  fail "a delivered callback was sent again: $(grep webhook "$DAEMON_LOG")"
fi

daemon_stop
echo "daemon_ops: ok"
