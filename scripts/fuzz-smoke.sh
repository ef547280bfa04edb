#!/usr/bin/env bash
# Runs every fuzz target in BIN_DIR for SECONDS each, seeded from
# tests/fuzz/corpus/<target without fuzz_>/. Fails if any target crashes.
set -euo pipefail
cd "$(dirname "$0")/.."
bindir=${1:?usage: scripts/fuzz-smoke.sh BIN_DIR SECONDS}
secs=${2:-20}
found=0
for f in "$bindir"/fuzz_*; do
  [ -x "$f" ] || continue
  found=1
  name=$(basename "$f")
  seeds=tests/fuzz/corpus/${name#fuzz_}
  work=$(mktemp -d)
  [ -d "$seeds" ] && cp -r "$seeds"/. "$work"/ 2>/dev/null || true
  echo "fuzz: $name for ${secs}s"
  status=0
  "$f" -max_total_time="$secs" -rss_limit_mb=2048 -print_final_stats=1 \
    "$work" >"$work.log" 2>&1 || status=$?
  grep -E 'stat::number_of_executed_units|ERROR|SUMMARY' "$work.log" || true
  [ "$status" -eq 0 ] || tail -n 40 "$work.log" >&2
  rm -rf "$work" "$work.log"
  if [ "$status" -ne 0 ]; then
    echo "fuzz: $name failed (exit $status)" >&2
    exit 1
  fi
done
[ "$found" = 1 ] || { echo "fuzz: no targets in $bindir" >&2; exit 1; }
