# store_crash.sh - SIGKILL a process that is appending samples, three times,
# then check that every committed sample survived and that recovery marked
# every run INTERRUPTED (sbx_store_crash verify).
set -euo pipefail

tmp=$(mktemp -d /tmp/sbx-store-crash.XXXXXX)
victim_pid=
cleanup() {
  if [ -n "$victim_pid" ]; then
    kill -9 "$victim_pid" 2>/dev/null || true
    wait "$victim_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

store="$tmp/store"
counts=()
for round in 1 2 3; do
  out="$tmp/out.$round"
  sbx_store_crash "$store" >"$out" 2>"$tmp/err.$round" &
  victim_pid=$!

  # Wait for the first flushed count (a slow or sanitized build may need
  # a while to open the store), then let it run about a second more.
  for _ in $(seq 1 200); do
    [ -s "$out" ] && break
    if ! kill -0 "$victim_pid" 2>/dev/null; then
      echo "round $round: sbx_store_crash exited early:" >&2
      cat "$tmp/err.$round" >&2
      exit 1
    fi
    sleep 0.05
  done
  sleep 1
  kill -9 "$victim_pid"
  wait "$victim_pid" 2>/dev/null || true
  victim_pid=

  # The last complete line is the last count known to be committed; a line
  # cut by the kill (no newline yet) is not trusted.
  if [ -n "$(tail -c 1 "$out")" ]; then
    last=$(sed '$d' "$out" | tail -n 1)
  else
    last=$(tail -n 1 "$out")
  fi
  if ! [[ "$last" =~ ^[0-9]+$ ]]; then
    echo "round $round: no flushed count printed before the kill:" >&2
    cat "$tmp/err.$round" >&2
    exit 1
  fi
  echo "round $round: killed after $last samples were reported flushed"
  grep -h recovered "$tmp/err.$round" || true
  counts+=("$last")
done

sbx_store_crash verify "$store" "${counts[@]}"
echo "store_crash: ok"
