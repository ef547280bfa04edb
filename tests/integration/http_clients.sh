# Same truth on both HTTP clients: the fault suite and web-static, replayed
# through libcurl and through the fast client, give the same outcome for
# every case; plain http:// picks the fast client, a forced client is
# recorded.
source "$(dirname "$0")/lib/common.bash"

start_faultd
sbx-gen-web-static --seed 42 --content "$TMP/content" --dataset "$TMP/dataset.jsonl"
start_nginx "$TMP/content"

# outcomes RUN_ID: prints "case status error" once per distinct outcome.
outcomes() {
  sbx result samples "$1" --data-dir "$TMP/data" |
    awk -F, 'NR > 1 { print $2, $8, $9 }' | sort -u
}

run_both() { # NAME SPEC URL [extra flags]: runs the spec through each client
  local name=$1 spec=$2 url=$3 client id
  shift 3
  for client in curl fast; do
    sbx test --scenario "$spec" --endpoint "$url" --data-dir "$TMP/data" \
      --http-client "$client" --json "$TMP/$name-$client.json" "$@" \
      >"$TMP/out" 2>"$TMP/err" || true
    [ -s "$TMP/$name-$client.json" ] || fail "$name/$client: no result: $(cat "$TMP/err")"
    [ "$(json_get "$TMP/$name-$client.json" 'j["client"]')" = "$client" ] ||
      fail "$name: result does not record client $client"
    id=$(json_get "$TMP/$name-$client.json" 'j["runId"]')
    outcomes "$id" >"$TMP/$name-$client.outcomes"
  done
  if ! cmp -s "$TMP/$name-curl.outcomes" "$TMP/$name-fast.outcomes"; then
    diff "$TMP/$name-curl.outcomes" "$TMP/$name-fast.outcomes" >&2 || true
    fail "$name: per-case outcomes differ between curl and fast"
  fi
}

# 1. Faults: each case has exactly one outcome, the same on both clients.
run_both faults "$SRC/tests/fixtures/scenarios/faults" "$FAULTD_URL"
cat "$TMP/faults-fast.outcomes"
[ "$(awk '{print $1}' "$TMP/faults-fast.outcomes" | sort | uniq -d | wc -l)" -eq 0 ] ||
  fail "a fault case had more than one outcome"
[ "$(wc -l <"$TMP/faults-fast.outcomes")" -eq 8 ] || fail "expected 8 cases with one outcome each"
python3 - "$TMP/faults-curl.json" "$TMP/faults-fast.json" <<'PY' || fail "error classes differ"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
ca = {e["error"] for e in a["metrics"]["errorsByClass"]}
cb = {e["error"] for e in b["metrics"]["errorsByClass"]}
assert ca == cb, (ca, cb)
assert a["verdict"] == b["verdict"] == "VERDICT_FAIL"
PY

# 2. web-static against nginx: every case answered the same (200 or 404,
#    checked byte for byte) by both clients.
run_both web-static "$SRC/sandbox-specs/web-static" "$NGINX_URL" \
  --warmup 0s --duration 2s --min-cases 4000 --concurrency 8
[ "$(json_get "$TMP/web-static-fast.json" 'j["verdict"]')" = VERDICT_PASS ] ||
  fail "web-static through the fast client did not pass"
grep -q " 404 NONE" "$TMP/web-static-fast.outcomes" || fail "no 404 case seen"

# 3. Pipelining through the fast client gives the same answers.
mkdir -p "$TMP/piped"
cp "$SRC/sandbox-specs/web-static/dataset.jsonl" "$TMP/piped/"
sed 's/^  max_body_bytes: 4MiB$/  max_body_bytes: 4MiB\n  pipeline_depth: 4/' \
  "$SRC/sandbox-specs/web-static/spec.yaml" >"$TMP/piped/spec.yaml"
grep -q "pipeline_depth: 4" "$TMP/piped/spec.yaml" || fail "could not write the pipelined spec"
expect_exit 0 sbx test --scenario "$TMP/piped" --endpoint "$NGINX_URL" \
  --data-dir "$TMP/data" --warmup 0s --duration 2s --min-cases 4000 \
  --concurrency 16 --json "$TMP/piped.json"
outcomes "$(json_get "$TMP/piped.json" 'j["runId"]')" >"$TMP/piped.outcomes"
cmp -s "$TMP/piped.outcomes" "$TMP/web-static-curl.outcomes" ||
  fail "pipelined outcomes differ from libcurl's"

# 4. Selection: plain http:// uses the fast client unless told otherwise,
#    and a forced client is recorded as an override.
expect_exit 0 sbx test --scenario "$SRC/tests/fixtures/scenarios/faults-ok" \
  --endpoint "$FAULTD_URL" --data-dir "$TMP/data" --json "$TMP/auto.json"
[ "$(json_get "$TMP/auto.json" 'j["client"]')" = fast ] || fail "auto did not pick fast"
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert "interface.http_client=curl" in j["overrides"], j["overrides"]' \
  "$TMP/faults-curl.json" || fail "forced client not recorded"
expect_exit 2 sbx test --scenario "$SRC/tests/fixtures/scenarios/faults-ok" \
  --endpoint "$FAULTD_URL" --data-dir "$TMP/data" --http-client spdy
expect_exit 2 sbx test --scenario "$SRC/tests/fixtures/scenarios/faults-ok" \
  --endpoint "https://127.0.0.1:1" --data-dir "$TMP/data" --http-client fast
grep -q "plain http://" "$TMP/err" || fail "no clear message for https on the fast client: $(cat "$TMP/err")"
echo "ok"
