#!/usr/bin/env bash
# The main job on its bundled default: installs what is missing, builds,
# starts sandboxd on a temporary data directory with the bundled scenarios,
# registers the bundled products (nginx and Python's http.server as
# endpoints for web-static, the example plugins for sensor-anomaly and
# route-plan), runs one match per scenario, prints the leaderboards, checks
# one signed result offline, and stops everything.
# Exit code: 0 when every match produced its results and the signature
# verified, 3 when something could not run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/setup.sh
scripts/build.sh default

bin=$root/build/bin
export PATH=$bin:$PATH
work=$(mktemp -d /tmp/sbx-demo.XXXXXX)
chmod 755 "$work"
daemon_pid=
py_pid=
cleanup() {
  [ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
  [ -n "$py_pid" ] && kill "$py_pid" 2>/dev/null || true
  scripts/nginx.sh stop "$work/nginx" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

step "generating the web-static site (seed 42) and serving it twice"
"$bin/sbx-gen-web-static" --seed 42 --content "$work/content" \
  --dataset "$work/dataset.jsonl" >/dev/null
cmp -s "$work/dataset.jsonl" sandbox-specs/web-static/dataset.jsonl || {
  echo "demo: generated dataset differs from the committed one" >&2; exit 3; }
nginx_url=$(SBX_BUILD_DIR=$root/build scripts/nginx.sh start "$work/content" "$work/nginx")
py_port=$("$bin/sbx_freeport")
(cd "$work/content" && exec python3 -m http.server "$py_port" --bind 127.0.0.1) \
  >"$work/http.server.log" 2>&1 &
py_pid=$!
for _ in $(seq 50); do
  curl -fso /dev/null "http://127.0.0.1:$py_port/" && break
  sleep 0.1
done
echo "nginx:              $nginx_url"
echo "python http.server: http://127.0.0.1:$py_port"

step "sandboxd init + start (bundled scenarios from sandbox-specs/)"
SBX_TOKEN=$(sandboxd init --data-dir "$work/data" 2>/dev/null)
export SBX_TOKEN
sandboxd --data-dir "$work/data" --listen 127.0.0.1:0 \
  --port-file "$work/port" --scenarios sandbox-specs 2>"$work/sandboxd.log" &
daemon_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || { cat "$work/sandboxd.log" >&2; exit 3; }
export SBX_SERVER=http://127.0.0.1:$(cat "$work/port")
echo "sandboxd listens at $SBX_SERVER"
sbx scenario list

step "registering the products"
sbx product register demo/nginx@1.22 --endpoint "$nginx_url"
sbx product register demo/python-http@3.11 --endpoint "http://127.0.0.1:$py_port"
for p in anomaly_features anomaly_threshold route_dijkstra route_greedy; do
  sbx product register "demo/${p//_/-}@1.0" --plugin "$root/build/plugins/lib$p.so"
done
sbx product list

# Short measurements, so that the demo takes about a minute; official
# numbers use the scenarios' own durations.
short=(--warmup 1s --min-duration 3s --max-duration 20s --min-cases 200)
status=0
step "match: web-static, nginx vs python http.server"
sbx match start --scenario web-static --product demo/nginx@1.22 \
  --product demo/python-http@3.11 "${short[@]}" --wait || status=3
step "match: sensor-anomaly, two plugins"
sbx match start --scenario sensor-anomaly --product demo/anomaly-features@1.0 \
  --product demo/anomaly-threshold@1.0 "${short[@]}" --wait || status=3
step "match: route-plan, two plugins"
sbx match start --scenario route-plan --product demo/route-dijkstra@1.0 \
  --product demo/route-greedy@1.0 "${short[@]}" --wait || status=3

step "leaderboards"
for s in web-static sensor-anomaly route-plan; do
  sbx leaderboard "$s"
  echo
done

step "a signed result, verified offline with the published key"
run_id=$(sbx --json result list --verdict PASS --limit 1 | python3 -c \
  'import json,sys; print(json.load(sys.stdin)["results"][0]["runId"])')
sbx keys --out "$work/signing.pub"
sbx result get "$run_id" --out "$work/result.sbx" >/dev/null
sbx verify "$work/result.sbx" --key "$work/signing.pub" || status=3

step "stopping sandboxd (SIGTERM)"
kill -TERM "$daemon_pid"
wait "$daemon_pid" || status=3
daemon_pid=
tail -n 3 "$work/sandboxd.log"
exit $status
