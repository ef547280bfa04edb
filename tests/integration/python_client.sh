# python_client.sh - sandboxd from Python with the standard protobuf runtime
# and PyNaCl (python_client.py): proto bodies, a WatchRun stream parsed by
# hand, the signature checked over the DSSE PAE, the JSON answers parsed
# strictly by google.protobuf.json_format.
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/daemon.bash"

# Debian's python3-protobuf and python3-nacl belong to the system python,
# which is not always the first python3 on PATH.
PY=
for c in /usr/bin/python3 "$(command -v python3 || true)"; do
  if [ -n "$c" ] && "$c" -c 'import google.protobuf, nacl.signing' 2>/dev/null; then
    PY=$c
    break
  fi
done
[ -n "$PY" ] || fail "no python3 with google.protobuf and nacl; run scripts/setup.sh (python3-protobuf python3-nacl)"
command -v protoc >/dev/null || fail "protoc not found; run scripts/setup.sh (protobuf-compiler)"

mkdir -p "$TMP/pb"
protoc --python_out="$TMP/pb" -I"$SRC/proto" "$SRC"/proto/sbx/v1/*.proto 2>"$TMP/protoc.err" ||
  fail "protoc --python_out failed: $(cat "$TMP/protoc.err")"

web_static_content "$TMP/content"
start_nginx "$TMP/content"
daemon_init "$TMP/data"
daemon_start "$TMP/data" --scenarios "$SRC/sandbox-specs"

SBX_URL=$DAEMON_URL SBX_ADMIN_TOKEN=$ADMIN_TOKEN SBX_NGINX_URL=$NGINX_URL \
  SBX_PB_DIR=$TMP/pb SBX_PUBKEY_FILE=$TMP/data/signing.pub \
  timeout 240 "$PY" "$SRC/tests/integration/python_client.py" ||
  fail "the Python client's checks failed (see above)"

daemon_stop
echo "python_client: ok"
