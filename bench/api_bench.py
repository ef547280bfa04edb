#!/usr/bin/env python3
"""API reads under load while a run is measuring in the same daemon.

sandboxd serves the API and generates the load of its runs on one libuv
loop, so API traffic competes with the run's schedule. This benchmark
measures both sides of that: wrk (-t2 -c64 --latency) reads through the
Connect GET form (GetResult and GetLeaderboard in turn, a small Lua script)
while an open-loop run against nginx is measuring, and the run's own
schedule lag p99 (Result.metrics.scheduleLagP99Us) is compared with that of
the same run without API load. Interleaved rounds: quiet run, loaded run,
and the same run in `sbx test` (no daemon) as the reference for the engine's
own lag on this machine.

Placement on a 2-CPU machine: the daemon on core 1; nginx and wrk on core 0
(wrk therefore competes with the product, not with the daemon, whose
lateness is what is measured).

Usage: bench/api_bench.py [--rounds 3] [--rate 2000] [--seconds 15]
                          [--wrk-seconds 10] [--conns 64] [--threads 2]
Prints a Markdown report on stdout. Only ever targets 127.0.0.1.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLD = os.environ.get("SBX_BUILD_DIR", os.path.join(ROOT, "build"))
BIN = os.path.join(BLD, "bin")
SCENARIO = "bench-nginx-ok-open"
TERMINAL = {"RUN_STATE_DONE", "RUN_STATE_ERROR", "RUN_STATE_CANCELED", "RUN_STATE_INTERRUPTED"}

LUA = """
-- Alternates the two read calls of the API benchmark.
local paths = { "%s", "%s" }
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[i %% 2 + 1])
end
"""


def die(msg):
    print("api_bench: " + msg, file=sys.stderr)
    sys.exit(1)


def pinned(cpu, cmd):
    if shutil.which("taskset") and os.cpu_count() and os.cpu_count() > cpu:
        return ["taskset", "-c", str(cpu)] + cmd
    return cmd


class Daemon:
    def __init__(self, tmp, cpu):
        self.data = os.path.join(tmp, "data")
        out = subprocess.run([os.path.join(BIN, "sandboxd"), "init", "--data-dir", self.data],
                             capture_output=True, text=True)
        if out.returncode != 0:
            die(f"sandboxd init failed: {out.stderr}")
        self.token = next((l for l in out.stdout.split() if l.startswith("sbx_")), None)
        if not self.token:
            die(f"sandboxd init printed no token: {out.stdout!r}")
        pf = os.path.join(tmp, "port")
        self.log = open(os.path.join(tmp, "sandboxd.log"), "w")
        self.proc = subprocess.Popen(
            pinned(cpu, [os.path.join(BIN, "sandboxd"), "--data-dir", self.data,
                         "--listen", "127.0.0.1:0", "--port-file", pf,
                         "--scenarios", os.path.join(ROOT, "bench", "specs")]),
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        for _ in range(600):
            if os.path.exists(pf):
                port = open(pf).read().strip()
                if port.isdigit():
                    self.url = f"http://127.0.0.1:{port}"
                    return
            if self.proc.poll() is not None:
                die(f"sandboxd exited {self.proc.returncode}; log in {self.log.name}")
            time.sleep(0.05)
        die("sandboxd wrote no port file within 30 s")

    def call(self, method, req):
        r = urllib.request.Request(f"{self.url}/sbx.v1.Sandbox/{method}",
                                   json.dumps(req).encode(),
                                   {"Content-Type": "application/json",
                                    "Authorization": "Bearer " + self.token})
        try:
            with urllib.request.urlopen(r, timeout=30) as f:
                return json.load(f)
        except urllib.error.HTTPError as e:
            die(f"{method}: HTTP {e.code}: {e.read()[:300]!r}")

    def get_form(self, method, req):
        q = urllib.parse.urlencode({"encoding": "json", "message": json.dumps(req)})
        return f"/sbx.v1.Sandbox/{method}?{q}"

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wait_state(d, rid, states, limit):
    t_end = time.monotonic() + limit
    while True:
        run = d.call("GetRun", {"runId": rid})["run"]
        if run.get("state") in states:
            return run
        if run.get("state") in TERMINAL:
            die(f"run {rid} ended {run.get('state')} ({run.get('reason')}) while waiting for {states}")
        if time.monotonic() > t_end:
            die(f"run {rid} still {run.get('state')} after {limit}s")
        time.sleep(0.1)


def start_run(d, a):
    ov = {"rate": float(a.rate), "minDurationUs": str(a.seconds * 1000000)}
    return d.call("StartRun", {"scenario": SCENARIO, "product": "bench/nginx@1.0.0",
                               "overrides": ov})["run"]["id"]


def result_of(d, rid, a):
    wait_state(d, rid, {"RUN_STATE_DONE"}, a.seconds + 120)
    res = d.call("GetResult", {"runId": rid})["result"]
    m = res["metrics"]
    return {"lag_p99": int(m.get("scheduleLagP99Us", "0")),
            "lag_max": int(m.get("scheduleLagMaxUs", "0")),
            "achieved": float(m.get("achievedRate", 0)),
            "p99": int(m.get("latency", {}).get("p99Us", "0")),
            "verdict": res.get("verdict", "?")}


def sbx_test_run(a, nginx, tmp):
    js = os.path.join(tmp, "sbx-test.json")
    cmd = pinned(1, [os.path.join(BIN, "sbx"), "test", "--scenario",
                     os.path.join(ROOT, "bench", "specs", "nginx-ok-open"), "--endpoint", nginx,
                     "--data-dir", os.path.join(tmp, "sbx-test-data"), "--rate", f"{a.rate}/s",
                     "--duration", f"{a.seconds}s", "--json", js, "--quiet"])
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode not in (0, 1):
        die(f"sbx test failed ({out.returncode}): {out.stderr}")
    res = json.load(open(js))
    m = res["metrics"]
    return {"lag_p99": int(m.get("scheduleLagP99Us", "0")),
            "lag_max": int(m.get("scheduleLagMaxUs", "0")),
            "achieved": float(m.get("achievedRate", 0)),
            "p99": int(m.get("latency", {}).get("p99Us", "0")),
            "verdict": res.get("verdict", "?")}


def wrk_time(s):
    v, unit = re.match(r"([\d.]+)(us|ms|s)", s).groups()
    return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def run_wrk(d, a, lua, cpu):
    cmd = pinned(cpu, ["wrk", f"-t{a.threads}", f"-c{a.conns}", f"-d{a.wrk_seconds}s",
                       "--latency", "-s", lua, "-H", f"Authorization: Bearer {d.token}",
                       d.url])
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        die(f"wrk failed: {out.stderr}")
    t = out.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    p50 = wrk_time(re.search(r"\s50%\s+(\S+)", t).group(1))
    p99 = wrk_time(re.search(r"\s99%\s+(\S+)", t).group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
    bad = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    errs = sum(int(x) for x in m.groups()) if m else 0
    return {"rps": rps, "p50": p50, "p99": p99, "bad": bad, "errs": errs}


def fmt_range(xs, f):
    return f"{f(statistics.median(xs))} [{f(min(xs))}–{f(max(xs))}]"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--seconds", type=int, default=15, help="the run's measured duration")
    ap.add_argument("--wrk-seconds", type=int, default=10)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if a.wrk_seconds >= a.seconds:
        die("--wrk-seconds must be shorter than --seconds, so that wrk ends inside the run")
    for tool in ("wrk",):
        if not shutil.which(tool):
            die(f"{tool} not found; run scripts/setup.sh")
    if not os.access(os.path.join(BIN, "sandboxd"), os.X_OK):
        die(f"no sandboxd in {BIN}; build first: cmake --build build")

    tmp = tempfile.mkdtemp(prefix="sbx-api-bench.")
    nginx_run = os.path.join(tmp, "nginx")
    content = os.path.join(tmp, "content")
    os.makedirs(content)
    d = None
    try:
        env = dict(os.environ, SBX_BUILD_DIR=BLD)
        nginx = subprocess.check_output(pinned(0, [os.path.join(ROOT, "scripts", "nginx.sh"),
                                                   "start", content, nginx_run]),
                                        text=True, env=env).strip()
        d = Daemon(tmp, 1)
        d.call("RegisterProduct", {"product": {
            "vendor": "bench", "name": "nginx", "version": "1.0.0",
            "kind": "PRODUCT_KIND_ENDPOINT", "endpoint": {"url": nginx}}})
        # A published result for GetResult and the leaderboard to serve.
        first = d.call("StartRun", {"scenario": SCENARIO, "product": "bench/nginx@1.0.0",
                                    "overrides": {"rate": 500.0, "minDurationUs": "1000000",
                                                  "zeroWarmup": True}})["run"]["id"]
        wait_state(d, first, {"RUN_STATE_DONE"}, 120)
        paths = [d.get_form("GetResult", {"runId": first}),
                 d.get_form("GetLeaderboard", {"scenario": SCENARIO})]
        for p in paths:
            req = urllib.request.Request(d.url + p, headers={"Authorization": "Bearer " + d.token})
            with urllib.request.urlopen(req, timeout=30) as f:
                body = f.read()
            if f.status != 200:
                die(f"GET {p}: HTTP {f.status}")
        board = json.loads(body)
        if not board.get("entries"):
            die(f"the leaderboard is empty: {board}")
        lua = os.path.join(tmp, "reads.lua")
        with open(lua, "w") as f:
            f.write(LUA % tuple(p.replace("\\", "\\\\").replace('"', '\\"') for p in paths))

        quiet, loaded, wrks, local = [], [], [], []
        for r in range(1, a.rounds + 1):
            rid = start_run(d, a)
            quiet.append(result_of(d, rid, a))
            print(f"round {r}: quiet  lag p99 {quiet[-1]['lag_p99']} us", file=sys.stderr)
            rid = start_run(d, a)
            wait_state(d, rid, {"RUN_STATE_MEASURING"}, 60)
            wrks.append(run_wrk(d, a, lua, 0))
            loaded.append(result_of(d, rid, a))
            print(f"round {r}: loaded lag p99 {loaded[-1]['lag_p99']} us, "
                  f"API {wrks[-1]['rps']:.0f}/s p99 {wrks[-1]['p99']:.2f} ms", file=sys.stderr)
            local.append(sbx_test_run(a, nginx, tmp))
            print(f"round {r}: sbx test lag p99 {local[-1]['lag_p99']} us", file=sys.stderr)
    finally:
        if d:
            d.stop()
        subprocess.call([os.path.join(ROOT, "scripts", "nginx.sh"), "stop", nginx_run],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"### API reads during an open-loop run at {a.rate:,}/s, "
          f"{a.rounds} interleaved rounds\n")
    print(f"wrk -t{a.threads} -c{a.conns} -d{a.wrk_seconds}s --latency, Connect GET form, "
          f"GetResult and GetLeaderboard in turn; the run: {SCENARIO} against nginx, "
          f"{a.seconds} s measured (1 s warm-up).\n")
    print("| round | API calls/s | API p50 | API p99 | non-2xx | socket errors |")
    print("|---|---|---|---|---|---|")
    for i, w in enumerate(wrks, 1):
        print(f"| {i} | {w['rps']:,.0f} | {w['p50']:.2f} ms | {w['p99']:.2f} ms | "
              f"{w['bad']} | {w['errs']} |")
    print()
    print("The run, in the daemon without and with API load, and in `sbx test`:\n")
    print("| round | where | schedule lag p99 | lag max | achieved rate | latency p99 | verdict |")
    print("|---|---|---|---|---|---|---|")
    for i, (q, l, t) in enumerate(zip(quiet, loaded, local), 1):
        for where, x in (("daemon, quiet", q), ("daemon, API load", l), ("sbx test", t)):
            print(f"| {i} | {where} | {x['lag_p99']:,} µs | {x['lag_max']:,} µs | "
                  f"{x['achieved']:,.1f}/s | {x['p99']:,} µs | {x['verdict'][8:]} |")
    print()
    print(f"Median [min–max]: API {fmt_range([w['rps'] for w in wrks], lambda v: f'{v:,.0f}/s')}, "
          f"API p99 {fmt_range([w['p99'] for w in wrks], lambda v: f'{v:.2f} ms')}; "
          f"schedule lag p99 quiet {fmt_range([q['lag_p99'] for q in quiet], lambda v: f'{v:.0f} µs')}, "
          f"under API load {fmt_range([l['lag_p99'] for l in loaded], lambda v: f'{v:.0f} µs')}, "
          f"sbx test {fmt_range([t['lag_p99'] for t in local], lambda v: f'{v:.0f} µs')}.")
    if any(w["bad"] or w["errs"] for w in wrks):
        die("some API reads failed (non-2xx or socket errors); the figures above are not valid")


if __name__ == "__main__":
    main()
