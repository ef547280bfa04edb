#!/usr/bin/env bash
# The main job on its bundled default: installs what is missing, builds,
# generates the web-static content, serves it with nginx on a free loopback
# port, runs `sbx test` against it, shows the result and stops nginx.
# Exit code: sbx test's (0 PASS, 1 FAIL/INVALID, 2 input error, 3 could not run).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

scripts/setup.sh
scripts/build.sh default

bin=$root/build/bin
work=$root/build/demo
mkdir -p "$work"
if [ ! -f "$work/content/index.html" ]; then
  echo "demo: generating the web-static content tree (seed 42)"
  "$bin/sbx-gen-web-static" --seed 42 --content "$work/content" \
    --dataset "$work/dataset.jsonl"
  cmp -s "$work/dataset.jsonl" sandbox-specs/web-static/dataset.jsonl || {
    echo "demo: generated dataset differs from sandbox-specs/web-static/dataset.jsonl" >&2
    exit 3
  }
fi

url=$(SBX_BUILD_DIR=$root/build scripts/nginx.sh start "$work/content" "$work/nginx")
trap 'scripts/nginx.sh stop "$work/nginx" >/dev/null 2>&1 || true' EXIT
echo "demo: nginx serves the content at $url"
echo "demo: sbx test --scenario sandbox-specs/web-static --endpoint $url"
echo
set +e
"$bin/sbx" test --scenario sandbox-specs/web-static --endpoint "$url" \
  --data-dir "$work/sbx-data" --junit "$work/report.xml" --json "$work/summary.json"
code=$?
set -e
echo
echo "demo: JUnit report $work/report.xml, JSON summary $work/summary.json (exit $code)"
exit $code
