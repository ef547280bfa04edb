# daemon_crash.sh - SIGKILL sandboxd at random moments while runs are queued
# and measuring, five times, restarting it each time. After every restart:
# every run StartRun acknowledged exists; every result seen before is still
# there byte for byte and its signature verifies; runs that were mid-flight
# read INTERRUPTED (with a reason) or finished; nothing started before the
# crash still claims to run. At the end the queue drains: every run ends,
# those still queued at the last crash finish DONE. Bounded: about a minute.
source "$(dirname "$0")/lib/common.bash"
source "$(dirname "$0")/lib/daemon.bash"

ROUNDS=${ROUNDS:-5}
SEED=${SEED:-$(( $(date +%s) % 32768 ))}
RANDOM=$SEED
echo "daemon_crash: seed $SEED (rerun with SEED=$SEED)"

# The signature is checked by `sbx verify` when this build has it, and by
# PyNaCl when the system python has it; at least one of them must be there.
HAVE_SBX_VERIFY=0
if sbx verify --help >/dev/null 2>&1; then HAVE_SBX_VERIFY=1; fi
PY=python3
for c in /usr/bin/python3 python3; do
  if "$c" -c 'import nacl.signing' 2>/dev/null; then PY=$c; break; fi
done
HAVE_NACL=0
if "$PY" -c 'import nacl.signing' 2>/dev/null; then HAVE_NACL=1; fi
[ "$HAVE_SBX_VERIFY" = 1 ] || [ "$HAVE_NACL" = 1 ] ||
  fail "neither 'sbx verify' nor python3-nacl is available to check signatures"

cat >"$TMP/crash.py" <<'PY'
# The bookkeeping of daemon_crash.sh. Commands:
#   start N                  queue N short runs, append their ids to runs.txt
#   snapshot [kill]          state of every run -> before.json (and, before a
#                            kill, appended to kills.json); signed results of
#                            DONE runs -> results/ID.json (first time seen)
#   check RESTART_MS         compare the daemon now with before.json
#   drain SECONDS [MIN_DONE] wait until every run has ended, then check them
import base64, hashlib, json, os, sys, time, urllib.error, urllib.request

URL, TOKEN, TMP = os.environ["SBX_URL"], os.environ["SBX_TOKEN"], os.environ["TMP"]
HAVE_NACL = os.environ.get("HAVE_NACL") == "1"
TERMINAL = {"RUN_STATE_DONE", "RUN_STATE_ERROR", "RUN_STATE_CANCELED", "RUN_STATE_INTERRUPTED"}
FLIGHT = {"RUN_STATE_PREPARING", "RUN_STATE_WARMUP", "RUN_STATE_MEASURING", "RUN_STATE_VERIFYING"}
RES = os.path.join(TMP, "results")
os.makedirs(RES, exist_ok=True)


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def call(method, req):
    r = urllib.request.Request(f"{URL}/sbx.v1.Sandbox/{method}", json.dumps(req).encode(),
                               {"Content-Type": "application/json",
                                "Authorization": "Bearer " + TOKEN})
    try:
        with urllib.request.urlopen(r, timeout=30) as f:
            return json.load(f)
    except urllib.error.HTTPError as e:
        fail(f"{method} {req}: HTTP {e.code}: {e.read()[:300]!r}")


def started():
    p = os.path.join(TMP, "runs.txt")
    return open(p).read().split() if os.path.exists(p) else []


def all_runs():
    runs = {}
    for rid in started():
        runs[rid] = call("GetRun", {"runId": rid})["run"]
    listed = call("ListRuns", {"limit": 1000}).get("runs", [])
    for r in listed:
        runs.setdefault(r["id"], r)
    missing = set(started()) - {r["id"] for r in listed}
    if missing:
        fail(f"ListRuns lacks acknowledged runs {sorted(missing, key=int)}")
    return runs


def verify(rid, signed):
    pk = base64.b64decode(open(os.path.join(TMP, "data", "signing.pub")).read().strip())
    payload = base64.b64decode(signed["payload"])
    ptype = signed["payloadType"].encode()
    if ptype != b"application/vnd.sbx.result.v1+proto":
        fail(f"run {rid}: payloadType {ptype!r}")
    sig = signed["signatures"][0]
    if sig["keyid"] != hashlib.sha256(pk).digest()[:8].hex():
        fail(f"run {rid}: keyid {sig['keyid']} is not the data dir's key")
    if HAVE_NACL:
        import nacl.exceptions, nacl.signing
        pae = (b"DSSEv1 " + str(len(ptype)).encode() + b" " + ptype + b" " +
               str(len(payload)).encode() + b" " + payload)
        try:
            nacl.signing.VerifyKey(pk).verify(pae, base64.b64decode(sig["sig"]))
        except nacl.exceptions.BadSignatureError:
            fail(f"run {rid}: the result's signature does not verify")
    # For `sbx verify` in the shell: the SignedResult as proto3 JSON.
    with open(os.path.join(RES, f"{rid}.signed.json"), "w") as f:
        json.dump(signed, f)


def save_results(runs):
    n = 0
    for rid, r in runs.items():
        if r.get("state") != "RUN_STATE_DONE":
            continue
        path = os.path.join(RES, f"{rid}.json")
        got = call("GetResult", {"runId": rid})
        if not os.path.exists(path):
            with open(path, "w") as f:
                json.dump(got["signed"], f)
            verify(rid, got["signed"])
        n += 1
    return n


cmd = sys.argv[1]
if cmd == "start":
    ov = {"minDurationUs": "500000", "zeroWarmup": True, "minCases": "50"}
    with open(os.path.join(TMP, "runs.txt"), "a") as f:
        for _ in range(int(sys.argv[2])):
            run = call("StartRun", {"scenario": "web-static", "product": "acme/web@1.0.0",
                                    "overrides": ov})["run"]
            f.write(run["id"] + "\n")
            f.flush()
elif cmd == "snapshot":
    runs = all_runs()
    done = save_results(runs)
    states = {k: v.get("state") for k, v in runs.items()}
    with open(os.path.join(TMP, "before.json"), "w") as f:
        json.dump(states, f)
    if sys.argv[2:] == ["kill"]:
        with open(os.path.join(TMP, "kills.json"), "a") as f:
            f.write(json.dumps(states) + "\n")
    shown = [v.get("state", "?")[10:] for k, v in sorted(runs.items(), key=lambda kv: int(kv[0]))]
    when = "before the kill" if sys.argv[2:] == ["kill"] else "now"
    print(f"  {when}: {done} done; " + " ".join(shown))
elif cmd == "check":
    restart_ms = int(sys.argv[2])
    before = json.load(open(os.path.join(TMP, "before.json")))
    runs = all_runs()
    for rid, b in before.items():
        if rid not in runs:
            fail(f"run {rid} ({b} before the kill) is gone")
        a = runs[rid].get("state")
        if b in TERMINAL and a != b:
            fail(f"run {rid} was {b} before the kill and is {a} now")
        if b in FLIGHT and a not in TERMINAL:
            fail(f"run {rid} was {b} when the daemon died and is {a} after the restart, "
                 "want INTERRUPTED (or ended)")
        if a == "RUN_STATE_INTERRUPTED" and not runs[rid].get("reason"):
            fail(f"run {rid} is INTERRUPTED without a reason")
    for rid, r in runs.items():
        # restart_ms is taken after the kill: whatever the new daemon
        # started, it started later.
        if r.get("state") in FLIGHT and int(r.get("startedUnixMs", "0")) < restart_ms:
            fail(f"run {rid} is {r['state']} since {r.get('startedUnixMs')}, before the restart "
                 f"at {restart_ms}: a run of the dead daemon still claims to run")
    for name in os.listdir(RES):
        if not name.endswith(".json") or name.endswith(".signed.json"):
            continue
        rid = name[:-5]
        kept = json.load(open(os.path.join(RES, name)))
        if runs.get(rid, {}).get("state") != "RUN_STATE_DONE":
            fail(f"run {rid} had a result and is {runs.get(rid, {}).get('state')} now")
        got = call("GetResult", {"runId": rid})["signed"]
        if got != kept:
            fail(f"run {rid}: the signed result changed across the crash")
        verify(rid, got)
    n_int = sum(1 for r in runs.values() if r.get("state") == "RUN_STATE_INTERRUPTED")
    print(f"  after the restart: {len(runs)} runs ok, {n_int} interrupted so far, "
          f"{sum(1 for n in os.listdir(RES) if n.endswith('.signed.json'))} results verified")
elif cmd == "drain":
    limit = time.monotonic() + float(sys.argv[2])
    bpath = os.path.join(TMP, "before.json")
    before = json.load(open(bpath)) if os.path.exists(bpath) else {}
    while True:
        runs = all_runs()
        pending = [k for k, v in runs.items() if v.get("state") not in TERMINAL]
        if not pending:
            break
        if time.monotonic() > limit:
            fail(f"runs {pending} did not end within {sys.argv[2]}s: "
                 f"{[runs[k].get('state') for k in pending]}")
        time.sleep(0.25)
    for rid, b in before.items():
        if b == "RUN_STATE_QUEUED" and runs[rid]["state"] != "RUN_STATE_DONE":
            fail(f"run {rid} was queued at the last kill and ended {runs[rid]['state']}: "
                 f"{runs[rid].get('reason')} (the queue must resume)")
    for rid, r in runs.items():
        if r["state"] not in ("RUN_STATE_DONE", "RUN_STATE_INTERRUPTED"):
            fail(f"run {rid} ended {r['state']}: {r.get('reason')}")
    done = save_results(runs)
    counts = {}
    for r in runs.values():
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    print(f"  drained: {counts}; {done} results verified")
    want = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    if done < want:
        fail(f"only {done} runs finished, want at least {want}")
    kpath = os.path.join(TMP, "kills.json")
    if want > 1 and os.path.exists(kpath):
        # Runs that were waiting in the queue when the daemon died must have
        # been picked up by a later daemon.
        queued = set()
        for line in open(kpath):
            queued |= {k for k, v in json.loads(line).items() if v == "RUN_STATE_QUEUED"}
        resumed = sorted((k for k in queued if runs[k]["state"] == "RUN_STATE_DONE"), key=int)
        print(f"  {len(queued)} runs were queued at some kill; {len(resumed)} of them "
              "finished after a restart")
        if queued and not resumed:
            fail(f"none of the runs queued at a kill ({sorted(queued, key=int)}) ever finished")
else:
    fail("usage: crash.py start N | snapshot | check MS | drain S")
PY

crash() {
  SBX_URL=$DAEMON_URL SBX_TOKEN=$ADMIN_TOKEN TMP=$TMP HAVE_NACL=$HAVE_NACL \
    timeout 120 "$PY" "$TMP/crash.py" "$@" || fail "crash.py $1 failed (see above)"
}

# Every result kept so far, checked by the sbx client too.
sbx_verify_all() {
  local f
  [ "$HAVE_SBX_VERIFY" = 1 ] || return 0
  for f in "$TMP"/results/*.signed.json; do
    [ -e "$f" ] || continue
    sbx verify "$f" --key "$TMP/data/signing.pub" >"$TMP/verify.out" 2>&1 ||
      fail "sbx verify $(basename "$f"): $(cat "$TMP/verify.out")"
  done
}

now_ms() { date +%s%3N; }

web_static_content "$TMP/content"
start_nginx "$TMP/content"
daemon_init "$TMP/data"
daemon_start "$TMP/data" --scenarios "$SRC/sandbox-specs"
api_ok RegisterProduct "{\"product\":{\"vendor\":\"acme\",\"name\":\"web\",\"version\":\"1.0.0\",
  \"kind\":\"PRODUCT_KIND_ENDPOINT\",\"endpoint\":{\"url\":\"$NGINX_URL\"}}}" "$ADMIN_TOKEN" >/dev/null

# One result exists before the first crash.
crash start 1
crash drain 60
crash start 3

for ((round = 1; round <= ROUNDS; round++)); do
  # 0.3 to 1.5 s after the start, in 10 ms steps.
  delay_ms=$((300 + RANDOM % 121 * 10))
  t0=$(now_ms)
  crash start 3
  while [ $(( $(now_ms) - t0 )) -lt "$delay_ms" ]; do sleep 0.02; done
  echo "round $round: SIGKILL about ${delay_ms} ms after the start"
  crash snapshot kill
  daemon_kill
  restart_ms=$(now_ms)
  daemon_start "$TMP/data" --scenarios "$SRC/sandbox-specs"
  crash check "$restart_ms"
  sbx_verify_all
done

crash snapshot
crash drain 120 4
sbx_verify_all
if [ "$HAVE_SBX_VERIFY" = 1 ]; then
  # ... and a changed byte is caught.
  f=$(ls "$TMP"/results/*.signed.json | head -n 1)
  "$PY" - "$f" "$TMP/tampered.json" <<'TAMPER'
import base64, json, sys
s = json.load(open(sys.argv[1]))
p = bytearray(base64.b64decode(s["payload"]))
p[len(p) // 2] ^= 1
s["payload"] = base64.b64encode(bytes(p)).decode()
json.dump(s, open(sys.argv[2], "w"))
TAMPER
  expect_exit 1 sbx verify "$TMP/tampered.json" --key "$TMP/data/signing.pub"
fi
daemon_stop
[ "$HAVE_SBX_VERIFY" = 1 ] || echo "(sbx verify not in this build: signatures checked with PyNaCl only)"
echo "daemon_crash: ok"
