# daemon_roles.sh - every API call under every role against a live sandboxd
# (daemon_roles.py walks the matrix and prints it), with nginx serving the
# web-static site as both vendors' endpoint. Secrets must appear in no
# response and in no line of the daemon's log.
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/daemon.bash"

web_static_content "$TMP/content"
start_nginx "$TMP/content"
daemon_init "$TMP/data"
daemon_start "$TMP/data" --scenarios "$SRC/sandbox-specs"

SBX_URL=$DAEMON_URL SBX_ADMIN_TOKEN=$ADMIN_TOKEN SBX_NGINX_URL=$NGINX_URL \
  SBX_SPEC_DIR=$SRC/sandbox-specs/web-static SBX_SECRETS_OUT=$TMP/secrets \
  timeout 300 python3 "$SRC/tests/integration/daemon_roles.py" ||
  fail "the role matrix does not hold (see above)"

daemon_stop
[ -s "$TMP/secrets" ] || fail "daemon_roles.py wrote no list of secrets"
if grep -n -F -f "$TMP/secrets" "$TMP"/sandboxd.*.log >"$TMP/leaks"; then
  sed 's/sbx_[A-Za-z0-9_-]*/sbx_.../g' "$TMP/leaks" | head -n 5 >&2
  fail "the daemon's log carries a secret (token, endpoint secret or private case)"
fi
echo "daemon_roles: ok"
