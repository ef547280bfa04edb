# The sbx commands that talk to sandboxd, end to end against a real daemon
# and a real nginx: publish web-static, register nginx as an endpoint, run
# it (PASS, exit 0; an impossible criterion, exit 1; canceled, exit 3), read
# runs, results, the leaderboard and a match back, check the signed result
# offline with the published key, tokens and roles, and that every --json
# output is JSON. Refusals by the API exit 2, an unreachable server 3.
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/daemon.bash"

# --- a daemon on a free port, nginx serving the web-static content
daemon_init "$TMP/data"
daemon_start "$TMP/data"
export SBX_SERVER=$DAEMON_URL
export SBX_TOKEN=$ADMIN_TOKEN
TOKEN=$ADMIN_TOKEN
web_static_content "$TMP/content"
start_nginx "$TMP/content"
short=(--min-duration 1s --warmup 0s --min-cases 100)

json_ok() { python3 -m json.tool "$TMP/out" >/dev/null || fail "not JSON: $*"; }

# --- help, usage errors, an unreachable server, a missing token
for c in scenario product run match result leaderboard keys token whoami; do
  expect_exit 0 sbx $c --help
  grep -q "Usage: sbx" "$TMP/out" || fail "sbx $c --help prints no usage"
done
expect_exit 0 sbx run start --help
grep -q -- "--min-duration" "$TMP/out" || fail "run start --help lacks the load overrides"
expect_exit 0 sbx help match
expect_exit 2 sbx run start --scenario web-static
grep -q -- "--product is required" "$TMP/err" || fail "run start without --product"
expect_exit 2 sbx run start --scenario web-static --product a/b@1 --rate fast
grep -q 'invalid value "fast"' "$TMP/err" || fail "bad --rate message"
expect_exit 2 sbx run start --scenario web-static --product a/b@1 --junit x.xml
expect_exit 2 sbx product register nope --endpoint "$NGINX_URL"
expect_exit 2 sbx bogus
expect_exit 3 sbx --server "http://127.0.0.1:$(sbx_freeport)" scenario list
grep -q "cannot reach sandboxd at http://127.0.0.1:" "$TMP/err" || fail "unreachable message: $(cat "$TMP/err")"
grep -q "sandboxd --data-dir DIR" "$TMP/err" || fail "unreachable message gives no fix"
expect_exit 2 env -u SBX_TOKEN sbx run list
grep -q "sbx: ListRuns: unauthenticated: " "$TMP/err" || fail "no-token message: $(cat "$TMP/err")"
expect_exit 2 sbx --token sbx_nottherightsecretatallbutlongenough12345678 whoami
expect_exit 0 sbx whoami
grep -q "role admin" "$TMP/out" || fail "whoami: $(cat "$TMP/out")"
# options before the command, and --server=URL
expect_exit 0 env -u SBX_SERVER -u SBX_TOKEN sbx --server="$SBX_SERVER" --token "$TOKEN" --json whoami
json_ok "whoami --json"
expect_exit 0 sbx token --json list
json_ok "token --json list"
expect_exit 0 sbx keys --out "$TMP/signing.pub"
cmp -s "$TMP/signing.pub" "$TMP/data/signing.pub" || fail "sbx keys --out differs from signing.pub"

# --- scenarios and products
expect_exit 0 sbx scenario publish "$SRC/sandbox-specs/web-static"
grep -q "published *web-static@1.0.0" "$TMP/out" || fail "publish: $(cat "$TMP/out")"
expect_exit 0 sbx scenario list
grep -q "^web-static@1.0.0 " "$TMP/out" || fail "scenario list: $(cat "$TMP/out")"
expect_exit 0 sbx scenario show web-static --spec
grep -q "^--- spec.yaml" "$TMP/out" && grep -q "^score: throughput" "$TMP/out" ||
  fail "scenario show --spec: $(cat "$TMP/out")"
expect_exit 2 sbx scenario show no-such-scenario
grep -q "sbx: GetScenario: not_found: " "$TMP/err" || fail "show unknown: $(cat "$TMP/err")"
mkdir "$TMP/bad-spec"
printf 'name: x\nversion: "1"\nload: [1\n' >"$TMP/bad-spec/spec.yaml"
expect_exit 2 sbx scenario publish "$TMP/bad-spec"
grep -q "spec.yaml:[0-9]*:[0-9]*:" "$TMP/err" || fail "bad spec message not positioned: $(cat "$TMP/err")"
# the same scenario, with a criterion nginx cannot meet
mkdir "$TMP/hard"
cp "$SRC/sandbox-specs/web-static/dataset.jsonl" "$TMP/hard/"
sed -e 's/^name: web-static/name: web-static-hard/' -e 's/latency.p99 <= 250ms/latency.p99 <= 1us/' \
  "$SRC/sandbox-specs/web-static/spec.yaml" >"$TMP/hard/spec.yaml"
expect_exit 0 sbx scenario publish "$TMP/hard"

# a private dataset, and a plugin scenario whose interface.setup file goes along
expect_exit 0 sbx scenario publish "$TMP/hard" --replace --private-dataset "$TMP/hard/dataset.jsonl"
expect_exit 0 sbx scenario show web-static-hard
grep -Eq "^private +(yes|[0-9]+)" "$TMP/out" || fail "private dataset not shown: $(cat "$TMP/out")"
expect_exit 0 sbx scenario publish "$SRC/sandbox-specs/route-plan"
expect_exit 0 sbx scenario show route-plan
grep -Eq "^interface +plugin" "$TMP/out" || fail "route-plan: $(cat "$TMP/out")"
# a plugin product (uploaded, not run here: plugin hosts are for the plugin_* tests)
expect_exit 0 sbx product register acme/router@1.0 --plugin "$BLD/plugins/libroute_dijkstra.so"
grep -q "plugin libroute_dijkstra.so" "$TMP/out" || fail "plugin register: $(cat "$TMP/out")"
expect_exit 0 sbx product show acme/router@1.0
grep -Eq "^digest +sha256:$(sha256sum "$BLD/plugins/libroute_dijkstra.so" | cut -c1-64)" "$TMP/out" ||
  fail "plugin digest: $(cat "$TMP/out")"
expect_exit 2 sbx product register acme/router@1.0 --plugin "$BLD/plugins/libroute_dijkstra.so" --header 'A: b'
# A callback to a loopback or private address is refused up front by a
# daemon with the default callback_private = refuse, for products and runs.
expect_exit 2 sbx product register acme/hooked@1.0 --endpoint "$NGINX_URL" \
  --callback "http://127.0.0.1:9/hook"
grep -q "127.0.0.1 is a private, loopback or link-local address" "$TMP/err" ||
  fail "private callback at registration: $(cat "$TMP/err")"

printf 'not-really-secret\n' >"$TMP/secret"
expect_exit 0 sbx product register acme/nginx@1.25 --endpoint "$NGINX_URL" \
  --header 'X-Sbx-Test: yes' --secret-file "$TMP/secret"
expect_exit 0 sbx product register other/nginx@2.0 --endpoint "$NGINX_URL"
expect_exit 2 sbx run start --scenario web-static --product acme/nginx@1.25 \
  --callback "http://[fd00::1]/hook"
grep -q "fd00::1 is a private" "$TMP/err" ||
  fail "private callback at run start: $(cat "$TMP/err")"
expect_exit 0 sbx product list
grep -q "^acme/nginx@1.25 *endpoint *$NGINX_URL" "$TMP/out" || fail "product list: $(cat "$TMP/out")"
expect_exit 0 sbx product show acme/nginx@1.25
grep -q "X-Sbx-Test: yes" "$TMP/out" || fail "product show: $(cat "$TMP/out")"
expect_exit 0 sbx product show acme/nginx@1.25 --json
json_ok "product show --json"
grep -q "not-really-secret" "$TMP/out" && fail "the endpoint secret was printed"
expect_exit 2 sbx product show acme/none@1

# --- a run that passes, waited for, with every report
expect_exit 0 sbx run start --scenario web-static --product acme/nginx@1.25 "${short[@]}" \
  --wait --junit "$TMP/pass.xml" --summary-json "$TMP/pass.json" --out "$TMP/pass.sig"
grep -q "^verdict *PASS" "$TMP/out" || fail "no PASS in the summary: $(cat "$TMP/out")"
grep -q "^signed *by key" "$TMP/out" || fail "summary does not name the signing key"
python3 - "$TMP/pass.json" "$TMP/pass.xml" <<'PY' || fail "reports of the waited run"
import json, sys, xml.etree.ElementTree as ET
j = json.load(open(sys.argv[1]))
assert j["verdict"] == "VERDICT_PASS", j["verdict"]
assert int(j["metrics"]["requests"]) >= 100
r = ET.parse(sys.argv[2]).getroot()
s = r if r.tag == "testsuite" else r.find("testsuite")
assert int(s.get("failures")) == 0 and int(s.get("tests")) >= 4
PY
RUN1=$(json_get "$TMP/pass.json" 'j["runId"]')
expect_exit 0 sbx verify "$TMP/pass.sig" --key "$TMP/signing.pub"
grep -q "signature OK" "$TMP/out" || fail "verify: $(cat "$TMP/out")"
expect_exit 0 sbx result get "$RUN1" --out "$TMP/again.sig"
cmp -s "$TMP/pass.sig" "$TMP/again.sig" || fail "result get --out differs from run start --out"
expect_exit 0 sbx result get "$RUN1" --json
json_ok "result get --json"

# --- without --wait: the id and state; then watch it
expect_exit 0 sbx run start --scenario web-static --product other/nginx@2.0 "${short[@]}"
grep -Eq "^run [0-9]+ [A-Z]+" "$TMP/out" || fail "run start output: $(cat "$TMP/out")"
RUN2=$(awk '{print $2}' "$TMP/out")
expect_exit 0 sbx run watch "$RUN2" --quiet
[ "$(cat "$TMP/out")" = "PASS run $RUN2" ] || fail "run watch --quiet: $(cat "$TMP/out")"
expect_exit 0 sbx run show "$RUN2"
grep -q "^state *DONE" "$TMP/out" || fail "run show: $(cat "$TMP/out")"
grep -q "^overrides .*min_duration" "$TMP/out" || fail "run show lacks the overrides"

# --- FAIL exits 1; an unknown scenario is refused (2); a canceled run is 3
expect_exit 1 sbx run start --scenario web-static-hard --product acme/nginx@1.25 "${short[@]}" --wait --quiet
grep -q "^FAIL run " "$TMP/out" || fail "FAIL run: $(cat "$TMP/out")"
expect_exit 2 sbx run start --scenario nope --product acme/nginx@1.25
grep -q "sbx: StartRun: not_found: " "$TMP/err" || fail "unknown scenario: $(cat "$TMP/err")"
expect_exit 2 sbx run show 999999
expect_exit 0 sbx run start --scenario web-static --product acme/nginx@1.25 --min-duration 60s
RUN3=$(awk '{print $2}' "$TMP/out")
expect_exit 0 sbx run cancel "$RUN3"
grep -q "^run $RUN3 " "$TMP/out" || fail "run cancel: $(cat "$TMP/out")"
expect_exit 3 sbx run watch "$RUN3" --no-progress
expect_exit 2 sbx run cancel "$RUN3"

# --- lists, the leaderboard, --json everywhere
expect_exit 0 sbx run list --limit 2
[ "$(grep -c . "$TMP/out")" -eq 3 ] || fail "run list --limit 2: $(cat "$TMP/out")"
expect_exit 0 sbx run list --state done --scenario web-static
grep -q " CANCELED " "$TMP/out" && fail "run list --state done shows a canceled run"
expect_exit 0 sbx result list --scenario web-static --verdict pass
grep -Eq "^ *$RUN1 +PASS +web-static@1.0.0 +acme/nginx@1.25 " "$TMP/out" || fail "result list: $(cat "$TMP/out")"
expect_exit 2 sbx result list --verdict maybe
expect_exit 0 sbx leaderboard web-static
grep -q "ranked by throughput (higher is better)" "$TMP/out" || fail "leaderboard title: $(cat "$TMP/out")"
grep -Eq "^ *=?[12]  (acme|other)/nginx@" "$TMP/out" || fail "leaderboard rows: $(cat "$TMP/out")"
for c in "scenario list" "scenario show web-static" "product list" "product show acme/nginx@1.25" \
  "run list" "run show $RUN1" "result list" "result get $RUN1" "leaderboard web-static" \
  "keys" "token list" "whoami"; do
  # shellcheck disable=SC2086
  expect_exit 0 sbx $c --json
  json_ok "sbx $c --json"
done

# --- a match, waited for, ends with its ranking
expect_exit 0 sbx match start --scenario web-static --product acme/nginx@1.25 \
  --product other/nginx@2.0 "${short[@]}" --wait --no-progress
grep -Eq "^match [0-9a-f]+: 2 runs" "$TMP/out" || fail "match start: $(cat "$TMP/out")"
grep -q "^RANK  PRODUCT" "$TMP/out" || fail "match ranking: $(cat "$TMP/out")"
MATCH=$(awk 'NR==1 {sub(":", "", $2); print $2}' "$TMP/out")
expect_exit 0 sbx match show "$MATCH"
[ "$(grep -c " DONE" "$TMP/out")" -eq 2 ] || fail "match show: $(cat "$TMP/out")"
expect_exit 2 sbx match start --scenario web-static --product acme/nginx@1.25

# --- tokens and roles
expect_exit 0 sbx token create --role vendor --vendor acme --name "acme CI"
VTOKEN=$(sed -n 1p "$TMP/out")
[[ $VTOKEN == sbx_* ]] || fail "token create: $(cat "$TMP/out")"
VID=$(sed -n 2p "$TMP/out" | awk '{sub(":", "", $2); print $2}')
expect_exit 0 sbx --token "$VTOKEN" whoami
grep -q "role vendor, vendor acme" "$TMP/out" || fail "vendor whoami: $(cat "$TMP/out")"
expect_exit 2 sbx --token "$VTOKEN" token create --role admin
grep -q "permission_denied" "$TMP/err" || fail "vendor creating a token: $(cat "$TMP/err")"
expect_exit 0 sbx token list
grep -Eq "^$VID +vendor +acme +acme CI " "$TMP/out" || fail "token list: $(cat "$TMP/out")"
grep -q "$VTOKEN" "$TMP/out" && fail "token list prints a secret"
expect_exit 0 sbx token revoke "$VID"
expect_exit 2 sbx --token "$VTOKEN" whoami
expect_exit 2 sbx token create --role vendor

# --- the local store's result commands are still there
expect_exit 2 sbx result list --data-dir "$TMP/no-store"
grep -q "no store at" "$TMP/err" || fail "local result list: $(cat "$TMP/err")"

# --- the daemon ends cleanly with everything the client did
daemon_stop
expect_exit 3 sbx whoami
echo "ok"
