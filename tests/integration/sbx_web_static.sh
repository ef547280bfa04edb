# The first end-to-end run: web-static against a real nginx passes (exit 0)
# with reports; an impossible criterion fails (exit 1) and the JUnit report
# names it; the result is stored and shows again; bad input exits 2.
source "$(dirname "$0")/lib/common.bash"

sbx-gen-web-static --seed 42 --content "$TMP/content" --dataset "$TMP/dataset.jsonl"
cmp -s "$TMP/dataset.jsonl" "$SRC/sandbox-specs/web-static/dataset.jsonl" ||
  fail "generated dataset differs from the committed one"
start_nginx "$TMP/content"

short=(--warmup 500ms --duration 2s --min-cases 500)

# 1. PASS against nginx.
expect_exit 0 sbx test --scenario "$SRC/sandbox-specs/web-static" \
  --endpoint "$NGINX_URL" --data-dir "$TMP/data" "${short[@]}" \
  --junit "$TMP/pass.xml" --json "$TMP/pass.json"
grep -q "PASS" "$TMP/out" || fail "summary does not say PASS"
grep -q "p99" "$TMP/out" || fail "summary lacks latency percentiles"
python3 - "$TMP/pass.json" <<'PY' || fail "JSON summary is wrong"
import json, sys
j = json.load(open(sys.argv[1]))
m = j["metrics"]
assert j["verdict"] == "VERDICT_PASS", j["verdict"]
assert j["client"] == "fast"  # plain http:// picks the fast client
assert int(m["requests"]) >= 500 and int(m.get("errors", 0)) == 0, m
assert len(j["criteria"]) == 3 and all(c["passed"] for c in j["criteria"])
assert j["validity"]["valid"] is True
assert len(j["scenarioDigest"]) == 44  # 32 bytes in base64
PY
python3 - "$TMP/pass.xml" <<'PY' || fail "JUnit report is wrong"
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
s = r if r.tag == "testsuite" else r.find("testsuite")
cases = s.findall("testcase")
assert len(cases) == 4, len(cases)              # 3 criteria + validity
assert int(s.get("failures")) == 0 and int(s.get("tests")) == 4
PY

# 2. The same with an impossible criterion: FAIL, exit 1, JUnit names it.
mkdir -p "$TMP/impossible"
cp "$SRC/sandbox-specs/web-static/dataset.jsonl" "$TMP/impossible/"
sed 's/latency.p99 <= 250ms/latency.p99 <= 1us/' \
  "$SRC/sandbox-specs/web-static/spec.yaml" >"$TMP/impossible/spec.yaml"
expect_exit 1 sbx test --scenario "$TMP/impossible" --endpoint "$NGINX_URL" \
  --data-dir "$TMP/data" "${short[@]}" --junit "$TMP/fail.xml"
python3 - "$TMP/fail.xml" <<'PY' || fail "JUnit does not name the failed criterion"
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
s = r if r.tag == "testsuite" else r.find("testsuite")
failed = [c.get("name") for c in s.findall("testcase") if c.find("failure") is not None]
assert failed == ["latency.p99 <= 1us"], failed
PY

# 3. Stored: every sample of run 1 is in LMDB, and the result shows again.
expect_exit 0 sbx result show 1 --data-dir "$TMP/data" --no-color
grep -q "PASS" "$TMP/out" || fail "result show does not print the verdict"
expect_exit 0 sbx result show 1 --data-dir "$TMP/data" --json
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["runId"]=="1"' "$TMP/out" ||
  fail "result show --json"
sbx result samples 1 --data-dir "$TMP/data" >"$TMP/samples.csv"
want=$(json_get "$TMP/pass.json" 'int(j["metrics"]["requests"]) + int(j["metrics"]["warmupRequests"])')
got=$(($(wc -l <"$TMP/samples.csv") - 1))
[ "$got" -eq "$want" ] || fail "store holds $got samples of run 1, the result counts $want requests"

# 4. Bad input: exit 2 with a positioned message; closed port: exit 3.
expect_exit 0 sbx spec validate "$SRC/sandbox-specs/web-static"
grep -q "ok: web-static@1.0.0" "$TMP/out" || fail "spec validate output"
printf 'name: web-static\nversion: "1"\ntitle: t\nload: [1\n' >"$TMP/bad.yaml"
expect_exit 2 sbx spec validate "$TMP/bad.yaml"
grep -q "bad.yaml:[0-9]*:[0-9]*:" "$TMP/err" || fail "error is not positioned: $(cat "$TMP/err")"
expect_exit 2 sbx test --scenario "$TMP/bad.yaml" --endpoint "$NGINX_URL" --data-dir "$TMP/data"
expect_exit 2 sbx test --scenario "$SRC/sandbox-specs/web-static" --endpoint "ftp://x" --data-dir "$TMP/data"
expect_exit 2 sbx test --scenario "$SRC/sandbox-specs/web-static"
expect_exit 2 sbx test --bogus
expect_exit 0 sbx test --help
expect_exit 3 sbx test --scenario "$SRC/sandbox-specs/web-static" \
  --endpoint "http://127.0.0.1:$(sbx_freeport)" --data-dir "$TMP/data"
echo "ok"
