#!/usr/bin/env bash
# web_static_gen.sh - the web-static generator and its nginx.
#
# sbx-gen-web-static with seed 42 reproduces the committed dataset byte for
# byte; the same seed gives the same content tree, another seed a different
# one; every expectation in the dataset matches the file on disk; the CLI
# keeps its exit codes; and nginx started with scripts/nginx.sh serves the
# tree so that dataset paths answer with the expected status and SHA-256.
set -euo pipefail

SRC=${SBX_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BLD=${SBX_BUILD_DIR:-$SRC/build}
export SBX_BUILD_DIR=$BLD
export PATH=$BLD/bin:$PATH
COMMITTED=$SRC/sandbox-specs/web-static/dataset.jsonl
NGINX_SH=$SRC/scripts/nginx.sh

TMP=$(mktemp -d /tmp/sbx-wsg.XXXXXX)
NGINX_RUN=""
cleanup() {
  if [ -n "$NGINX_RUN" ]; then
    "$NGINX_SH" stop "$NGINX_RUN" >/dev/null 2>&1 || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
  echo "FAIL: web_static_gen: $*" >&2
  exit 1
}

step() {
  echo "--- $*"
}

GEN=$(command -v sbx-gen-web-static) ||
  fail "sbx-gen-web-static not found in $BLD/bin or PATH; build it: cmake --build build --target sbx-gen-web-static"

# listing DIR: "sha256  /path" of every file, sorted by path, where a
# directory index is listed under the URL a client asks for ("/about/").
listing() {
  (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) |
    sed -E 's#  \./#  /#; s#(  /|/)index\.html$#\1#'
}

# expectations FILE: "sha256  /path" of every 200 line, sorted, unique.
expectations() {
  sed -nE 's#.*"path":"([^"]*)".*"status":200,"sha256":"([0-9a-f]{64})".*#\2  \1#p' "$1" |
    LC_ALL=C sort -u
}

step "generate with seed 42 and compare with the committed dataset"
"$GEN" --seed 42 --content "$TMP/a" --dataset "$TMP/a.jsonl" ||
  fail "generator exited $? for seed 42"
[ -f "$COMMITTED" ] || fail "$COMMITTED is missing"
cmp "$TMP/a.jsonl" "$COMMITTED" ||
  fail "dataset for seed 42 differs from $COMMITTED; if the generator changed on purpose, regenerate it with: sbx-gen-web-static --seed 42 --content /tmp/ws --dataset $COMMITTED"

step "dataset shape"
lines=$(wc -l <"$TMP/a.jsonl")
[ "$lines" -eq 4000 ] || fail "dataset has $lines lines, want 4000"
bad=$(grep -cvE '^\{"id":"r[0-9]{5,}","path":"/[a-z0-9/._-]*","expect":\{"status":(200,"sha256":"[0-9a-f]{64}"|404)\}\}$' "$TMP/a.jsonl" || true)
[ "$bad" -eq 0 ] || fail "$bad dataset lines do not have the expected form"
awk -F'"' '$4 != sprintf("r%05d", NR) { print "line " NR ": id " $4; exit 1 }' "$TMP/a.jsonl" ||
  fail "dataset ids are not r00001, r00002, ... in order"
misses=$(grep -c '"status":404' "$TMP/a.jsonl" || true)
[ "$misses" -ge 10 ] && [ "$misses" -le 100 ] ||
  fail "dataset has $misses 404 requests, want about 1% of 4000"
size=$(wc -c <"$TMP/a.jsonl")
[ "$size" -lt 1048576 ] || fail "dataset is $size bytes, must stay under 1 MiB"
if command -v jq >/dev/null 2>&1; then
  jq -e . "$TMP/a.jsonl" >/dev/null || fail "dataset is not valid JSON lines"
fi

step "content tree shape"
nfiles=$(find "$TMP/a" -type f | wc -l)
[ "$nfiles" -eq 600 ] || fail "content tree has $nfiles files, want 600"
total=$(find "$TMP/a" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
[ "$total" -ge 20000000 ] && [ "$total" -le 40000000 ] ||
  fail "content tree holds $total bytes, want 20-40 MB"
odd=$(cd "$TMP/a" && find . -type f | grep -cvE '^\./[a-z0-9/._-]+$' || true)
[ "$odd" -eq 0 ] || fail "$odd content paths use characters outside [a-z0-9/._-]"
tmps=$(find "$TMP/a" -name '*.tmp-*' | wc -l)
[ "$tmps" -eq 0 ] || fail "$tmps temporary files left in the content tree"

step "every expectation matches the file on disk"
listing "$TMP/a" | LC_ALL=C sort >"$TMP/a.list"
expectations "$TMP/a.jsonl" >"$TMP/a.expect"
missing=$(LC_ALL=C comm -13 "$TMP/a.list" "$TMP/a.expect")
[ -z "$missing" ] || fail "dataset expectations not matching the content:
$(echo "$missing" | head -5)"
while IFS= read -r p; do
  [ ! -e "$TMP/a$p" ] || fail "404 path $p exists in the content tree"
done < <(sed -nE 's#.*"path":"([^"]*)".*"status":404.*#\1#p' "$TMP/a.jsonl")

step "same seed, same bytes"
"$GEN" --seed 42 --content "$TMP/b" --dataset "$TMP/b.jsonl" ||
  fail "generator exited $? on the second run"
cmp "$TMP/a.jsonl" "$TMP/b.jsonl" || fail "two runs with seed 42 wrote different datasets"
listing "$TMP/b" | LC_ALL=C sort >"$TMP/b.list"
cmp "$TMP/a.list" "$TMP/b.list" || fail "two runs with seed 42 wrote different content trees:
$(diff "$TMP/a.list" "$TMP/b.list" | head -5)"
rm -rf "$TMP/b"

step "another seed, other bytes"
"$GEN" --seed 7 --content "$TMP/c" --dataset "$TMP/c.jsonl" ||
  fail "generator exited $? for seed 7"
if cmp -s "$TMP/a.jsonl" "$TMP/c.jsonl"; then
  fail "seeds 42 and 7 wrote the same dataset"
fi
listing "$TMP/c" | LC_ALL=C sort >"$TMP/c.list"
if cmp -s "$TMP/a.list" "$TMP/c.list"; then
  fail "seeds 42 and 7 wrote the same content tree"
fi
rm -rf "$TMP/c"

step "command line exit codes"
expect_exit() {
  local want=$1 got=0
  shift
  "$@" >"$TMP/out" 2>"$TMP/err" || got=$?
  [ "$got" -eq "$want" ] || fail "expected exit $want, got $got: $* ($(head -c 300 "$TMP/err"))"
}
expect_exit 0 "$GEN" --help
grep -q -- '--seed' "$TMP/out" || fail "--help does not print the usage"
expect_exit 2 "$GEN"
expect_exit 2 "$GEN" --seed 42 --content "$TMP/x"
expect_exit 2 "$GEN" --seed -1 --content "$TMP/x" --dataset "$TMP/x.jsonl"
expect_exit 2 "$GEN" --seed 1 --content "$TMP/x" --dataset "$TMP/x.jsonl" --objects 5
expect_exit 2 "$GEN" --seed 1 --content "$TMP/x" --dataset "$TMP/x.jsonl" --requests 0
expect_exit 2 "$GEN" --seed 1x --content "$TMP/x" --dataset "$TMP/x.jsonl"
expect_exit 2 "$GEN" --seed 1 --content "$TMP/x" --dataset "$TMP/x.jsonl" --bogus
expect_exit 3 "$GEN" --seed 1 --content "$TMP/x" --dataset "$TMP/no/such/dir/x.jsonl"
grep -q 'no/such/dir/x.jsonl' "$TMP/err" || fail "I/O error message does not name the file"
[ ! -e "$TMP/x" ] || fail "content was written although the dataset could not be created"
: >"$TMP/plainfile"
expect_exit 3 "$GEN" --seed 1 --content "$TMP/plainfile/sub" --dataset "$TMP/x.jsonl"
[ ! -e "$TMP/x.jsonl" ] || fail "dataset written although the content could not be"
[ -z "$(find "$TMP" -maxdepth 1 -name 'x.jsonl.tmp-*')" ] || fail "temporary dataset left behind"
expect_exit 0 "$GEN" --seed=3 --content="$TMP/small" --dataset="$TMP/small.jsonl" --objects=32 --requests=50
[ "$(find "$TMP/small" -type f | wc -l)" -eq 32 ] || fail "--objects 32 did not give 32 files"
[ "$(wc -l <"$TMP/small.jsonl")" -eq 50 ] || fail "--requests 50 did not give 50 lines"

step "serve with nginx and check answers"
[ -x "${SBX_NGINX:-/usr/sbin/nginx}" ] ||
  fail "nginx is not installed (${SBX_NGINX:-/usr/sbin/nginx}); run scripts/setup.sh"
NGINX_RUN=$TMP/run
url=$("$NGINX_SH" start "$TMP/a" "$NGINX_RUN") || fail "scripts/nginx.sh start failed"
[[ $url =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "nginx.sh printed \"$url\", not a URL"
port=${url##*:}

# fetch PATH OUT: writes the body to OUT and prints the status code.
if command -v curl >/dev/null 2>&1; then
  fetch() {
    curl -sS --max-time 10 -o "$2" -w '%{http_code}' "$url$1"
  }
else
  # A subshell, so that a refused connection ends only the fetch.
  fetch() (
    local line hlen=0 status
    exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" >&3
    cat <&3 >"$2.raw"
    exec 3<&-
    {
      IFS= read -r line
      status=$(echo "$line" | cut -d' ' -f2)
      hlen=$((${#line} + 1))
      while IFS= read -r line && [ "$line" != $'\r' ]; do
        hlen=$((hlen + ${#line} + 1))
      done
    } <"$2.raw"
    tail -c +$((hlen + 3)) "$2.raw" >"$2"
    echo "$status"
  )
fi

[ "$(fetch /__sbx_ok "$TMP/body")" = 200 ] && [ "$(cat "$TMP/body")" = ok ] ||
  fail "GET /__sbx_ok did not answer 200 ok"
checked=0
while read -r want path; do
  code=$(fetch "$path" "$TMP/body") || fail "GET $path failed"
  [ "$code" = 200 ] || fail "GET $path: status $code, want 200"
  got=$(sha256sum "$TMP/body" | cut -c1-64)
  [ "$got" = "$want" ] || fail "GET $path: sha256 $got, want $want"
  checked=$((checked + 1))
done < <(sed -nE 's#.*"path":"([^"]*)".*"sha256":"([0-9a-f]{64})".*#\2 \1#p' "$TMP/a.jsonl" |
         awk '!seen[$2]++' | head -n 20)
[ "$checked" -eq 20 ] || fail "checked $checked paths, want 20"
miss=$(sed -nE '/"status":404/ { s#.*"path":"([^"]*)".*#\1#p; q }' "$TMP/a.jsonl")
[ -n "$miss" ] || fail "no 404 request in the dataset"
code=$(fetch "$miss" "$TMP/body") || fail "GET $miss failed"
[ "$code" = 404 ] || fail "GET $miss: status $code, want 404"

step "stop nginx"
pid=$(cat "$NGINX_RUN/nginx.pid")
"$NGINX_SH" stop "$NGINX_RUN" || fail "scripts/nginx.sh stop failed"
NGINX_RUN=""
if kill -0 "$pid" 2>/dev/null &&
   [ "$(awk '/^State:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)" != Z ]; then
  fail "nginx (pid $pid) still runs after stop"
fi
if fetch /__sbx_ok "$TMP/body" >/dev/null 2>&1; then
  fail "port $port still answers after stop"
fi
echo "PASS: web_static_gen"
