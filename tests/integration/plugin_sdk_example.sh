# The README's plugin example, built as a vendor would (pkg-config, one cc
# command, outside the project's build), passes its scenario through the
# jailed host; a plugin built against another ABI is refused by name.
source "$(dirname "$0")/lib/common.bash"

export PKG_CONFIG_PATH=$BLD/plugins
cflags=$(pkg-config --cflags sbx-plugin) || fail "pkg-config does not know sbx-plugin"
cc -shared -O2 $cflags -o "$TMP/libupper.so" "$SRC/plugins/examples/upper/upper.c" ||
  fail "the README example does not build with pkg-config --cflags sbx-plugin"

expect_exit 0 sbx test --scenario "$SRC/tests/fixtures/scenarios/plugin-upper" \
  --plugin "$TMP/libupper.so" --data-dir "$TMP/data" --json "$TMP/upper.json"
grep -q "PASS" "$TMP/out" || fail "the example plugin did not pass"
python3 - "$TMP/upper.json" <<'PY' || fail "result lacks the plugin's cost or jail"
import json, sys
j = json.load(open(sys.argv[1]))
m = j["metrics"]
assert j["client"] == "plugin"
assert float(m["cpuUsPerRequest"]) > 0, m.get("cpuUsPerRequest")
assert int(m["peakRssBytes"]) > 0
assert "seccomp" in j["jailLayers"], j["jailLayers"]
assert "#sha256:" in j["product"]
PY

# The scenario wants an endpoint or a plugin: the wrong kind is a usage error.
expect_exit 2 sbx test --scenario "$SRC/tests/fixtures/scenarios/plugin-upper" \
  --endpoint http://127.0.0.1:1 --data-dir "$TMP/data"
grep -q "tests plugins" "$TMP/err" || fail "no clear message for an endpoint on a plugin scenario"
expect_exit 2 sbx test --scenario "$SRC/tests/fixtures/scenarios/plugin-upper" \
  --plugin "$TMP/no-such.so" --data-dir "$TMP/data"
echo "ok"
