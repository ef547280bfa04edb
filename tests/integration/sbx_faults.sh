# Each fault of sbx_faultd is counted in its own error class and the verdict
# follows; a dead endpoint exits 3; the open and trace models run.
source "$(dirname "$0")/lib/common.bash"

start_faultd

# 1. One case per fault class, replayed evenly: every class appears about
#    equally often, nothing else appears, and the verdict is FAIL (exit 1).
expect_exit 1 sbx test --scenario "$SRC/tests/fixtures/scenarios/faults" \
  --endpoint "$FAULTD_URL" --data-dir "$TMP/data" --json "$TMP/faults.json" \
  --junit "$TMP/faults.xml"
j=$TMP/faults.json
[ "$(json_get "$j" 'j["verdict"]')" = VERDICT_FAIL ] || fail "verdict not FAIL"
python3 - "$j" <<'PY' || fail "error classes do not match the faults"
import json, sys
j = json.load(open(sys.argv[1]))
m = j["metrics"]
by = {e["error"]: int(e.get("count", 0)) for e in m.get("errorsByClass", [])}
want = ["ERROR_CLASS_TIMEOUT", "ERROR_CLASS_RESET", "ERROR_CLASS_CHECK_FAILED",
        "ERROR_CLASS_HTTP_STATUS", "ERROR_CLASS_BODY_TOO_LARGE",
        "ERROR_CLASS_PROTOCOL"]
req = int(m["requests"])
per = req / 8.0
print("requests", req, "by class", by)
assert set(by) == set(want), f"classes {sorted(by)} != {sorted(want)}"
# RESET comes from two cases (reset, close-mid); every other class from one.
for k in want:
    n = by[k] / (2 if k == "ERROR_CLASS_RESET" else 1)
    assert abs(n - per) <= 2, f"{k}: {by[k]} for {req} requests"
errors = int(m["errors"])
assert errors == sum(by.values()), "errors != sum of classes"
assert abs(float(m["errorRate"]) - errors / req) < 1e-9
PY
grep -q 'error_rate &lt;= 0.01\|error_rate <= 0.01' "$TMP/faults.xml" || fail "JUnit lacks the failed criterion"

# 2. A dead endpoint: exit 3 with a message that says what to check.
port=$(sbx_freeport)
expect_exit 3 sbx test --scenario "$SRC/tests/fixtures/scenarios/faults-ok" \
  --endpoint "http://127.0.0.1:$port" --data-dir "$TMP/data"
grep -q "cannot reach the product" "$TMP/err" || fail "no clear message for a dead endpoint: $(cat "$TMP/err")"
grep -q "127.0.0.1:$port\|Connection refused\|connect" "$TMP/err" || fail "message does not name the address"

# 3. Open loop (Poisson) and trace replay against a healthy endpoint pass.
expect_exit 0 sbx test --scenario "$SRC/tests/fixtures/scenarios/faults-ok" \
  --endpoint "$FAULTD_URL" --data-dir "$TMP/data" --json "$TMP/open.json"
[ "$(json_get "$TMP/open.json" 'j["loadModel"]')" = open ] || fail "load model not open"
[ "$(json_get "$TMP/open.json" 'int(j["metrics"]["requests"]) >= 100')" = True ] || fail "open: too few requests"
expect_exit 0 sbx test --scenario "$SRC/tests/fixtures/scenarios/faults-trace" \
  --endpoint "$FAULTD_URL" --data-dir "$TMP/data" --json "$TMP/trace.json"
[ "$(json_get "$TMP/trace.json" 'j["loadModel"]')" = trace ] || fail "load model not trace"

# 4. Overrides are applied and recorded.
expect_exit 0 sbx test --scenario "$SRC/tests/fixtures/scenarios/faults-ok" \
  --endpoint "$FAULTD_URL" --data-dir "$TMP/data" --rate 100/s --duration 1s \
  --min-cases 50 --json "$TMP/ovr.json"
python3 - "$TMP/ovr.json" <<'PY' || fail "overrides not recorded"
import json, sys
j = json.load(open(sys.argv[1]))
o = j.get("overrides", [])
assert "load.rate=100/s" in o and "load.min_cases=50" in o, o
PY

# 5. Progress: on a terminal a line redrawn at most 4 times a second; none
#    when stderr is not a terminal (every run above wrote its stderr to a
#    file).
! grep -q $'\r' "$TMP/err" || fail "progress drawn although stderr is not a terminal"
script -qec "sbx test --scenario $SRC/tests/fixtures/scenarios/faults-ok --endpoint $FAULTD_URL \
  --data-dir $TMP/data --duration 2s --min-cases 10 --no-color" /dev/null >"$TMP/tty.out" 2>&1 ||
  fail "sbx test on a terminal: $(cat "$TMP/tty.out")"
draws=$(grep -o $'\r\033\[K[a-z-]' "$TMP/tty.out" | wc -l)
[ "$draws" -ge 2 ] || fail "no progress line on a terminal: $(cat -v "$TMP/tty.out")"
grep -q "req/s  p99" "$TMP/tty.out" || fail "progress line lacks rate and p99"
# About 2.5 s of run: at most 4 redraws a second, plus the final one.
[ "$draws" -le 14 ] || fail "progress redrawn $draws times in about 2.5 s"

# 6. Every run is in the store and shows again with its verdict's exit code.
expect_exit 0 sbx result list --data-dir "$TMP/data"
[ "$(grep -c . "$TMP/out")" -ge 5 ] || fail "result list misses runs: $(cat "$TMP/out")"
expect_exit 1 sbx result show 1 --data-dir "$TMP/data" --no-color
grep -q "FAIL" "$TMP/out" || fail "result show 1 does not show FAIL"
expect_exit 2 sbx result show 999 --data-dir "$TMP/data"
echo "ok"
