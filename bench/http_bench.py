#!/usr/bin/env python3
"""Side-by-side HTTP load-generator benchmark against nginx on loopback.

Runs, in interleaved rounds, wrk, hey and `sbx test` (closed loop, same
connection count) against the same nginx location that returns a tiny fixed
reply. nginx is pinned to core 0 and the load generator to core 1. For each
tool it records requests per second and the tool's own CPU time per request
(user + system, from wait4), and prints the ratio of sbx to wrk.

Then it runs sbx in open loop at the given rates (achieved rate and the
harness's schedule lag p99), and two open-loop runs of different lengths at
the same rate to show that memory does not grow with run length.

Usage: bench/http_bench.py [--rounds 3] [--seconds 10] [--conns 64]
                           [--rates 1000,10000] [--mem-seconds 10,60]
Prints a Markdown report on stdout. Only ever targets 127.0.0.1.
"""
import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(os.environ.get("SBX_BUILD_DIR", os.path.join(ROOT, "build")), "bin")


def run_rusage(cmd, cpu):
    """Runs cmd pinned to cpu and returns (rc, stdout, stderr, cpu_s, maxrss_kb, wall_s)."""
    out_f = tempfile.TemporaryFile(mode="w+")
    err_f = tempfile.TemporaryFile(mode="w+")
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.dup2(out_f.fileno(), 1)
        os.dup2(err_f.fileno(), 2)
        os.sched_setaffinity(0, {cpu})
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    wall = time.monotonic() - t0
    out_f.seek(0)
    err_f.seek(0)
    rc = os.waitstatus_to_exitcode(status)
    return rc, out_f.read(), err_f.read(), ru.ru_utime + ru.ru_stime, ru.ru_maxrss, wall


def start_nginx(tmp):
    content = os.path.join(tmp, "content")
    os.makedirs(content, exist_ok=True)
    run_dir = os.path.join(tmp, "nginx")
    env = dict(os.environ, SBX_BUILD_DIR=os.path.dirname(BIN))
    url = subprocess.check_output(["taskset", "-c", "0", os.path.join(ROOT, "scripts/nginx.sh"),
                                   "start", content, run_dir], text=True, env=env).strip()
    return url, run_dir


def stop_nginx(run_dir):
    subprocess.call([os.path.join(ROOT, "scripts/nginx.sh"), "stop", run_dir],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def parse_wrk(out):
    n = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return n, rps


def parse_hey(out):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    n = sum(int(x) for x in re.findall(r"\[\d+\]\s+(\d+) responses", out))
    return n, rps


def sbx_cmd(spec, url, data, js, extra):
    return [os.path.join(BIN, "sbx"), "test", "--scenario", spec, "--endpoint", url,
            "--data-dir", data, "--json", js, "--no-progress", "--quiet"] + extra


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--rates", default="1000,10000")
    ap.add_argument("--mem-seconds", default="10,60")
    ap.add_argument("--mem-rate", type=int, default=10000)
    a = ap.parse_args()
    for tool in ("wrk", "hey", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"bench: {tool} is missing; run scripts/setup.sh")
    tmp = tempfile.mkdtemp(prefix="sbx-bench.")
    url, run_dir = start_nginx(tmp)
    target = url + "/__sbx_ok"
    res = {"wrk": [], "hey": [], "curl": [], "sbx": []}
    try:
        for r in range(a.rounds):
            rc, out, err, cpu, rss, wall = run_rusage(
                ["wrk", "-t1", f"-c{a.conns}", f"-d{a.seconds}s", target], 1)
            n, rps = parse_wrk(out)
            res["wrk"].append((rps, cpu / n * 1e6, n))
            rc, out, err, cpu, rss, wall = run_rusage(
                ["hey", "-c", str(a.conns), "-z", f"{a.seconds}s", "-cpus", "1", target], 1)
            n, rps = parse_hey(out)
            res["hey"].append((rps, cpu / n * 1e6, n))
            rc, out, err, cpu, rss, wall = run_rusage(
                [os.path.join(BIN, "sbx-bench-curl-ceiling"), target, str(a.conns), str(a.seconds)], 1)
            n = int(re.search(r"requests (\d+)", out).group(1))
            res["curl"].append((float(re.search(r"rate ([\d.]+)", out).group(1)), cpu / n * 1e6, n))
            js = os.path.join(tmp, f"closed{r}.json")
            rc, out, err, cpu, rss, wall = run_rusage(
                sbx_cmd(os.path.join(ROOT, "bench/specs/nginx-ok"), url, os.path.join(tmp, "data"), js,
                        ["--concurrency", str(a.conns), "--duration", f"{a.seconds}s", "--warmup", "0s"]), 1)
            j = json.load(open(js))
            m = j["metrics"]
            n = int(m["requests"]) + int(m.get("warmupRequests", 0))
            res["sbx"].append((float(m["throughput"]), cpu / n * 1e6, n))
            print(f"round {r+1}: wrk {res['wrk'][-1][0]:.0f}/s, hey {res['hey'][-1][0]:.0f}/s, "
                  f"libcurl {res['curl'][-1][0]:.0f}/s, "
                  f"sbx {res['sbx'][-1][0]:.0f}/s ({j['verdict']})", file=sys.stderr)

        med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v),
                   min(x[0] for x in v), max(x[0] for x in v)) for k, v in res.items()}
        print(f"### Closed loop, {a.conns} connections, {a.seconds} s x {a.rounds} interleaved rounds\n")
        print("nginx 1 worker on core 0, load generator on core 1, `GET /__sbx_ok` (3-byte body).\n")
        print("| tool | req/s median [min-max] | CPU µs/req | req/s ratio to wrk | CPU/req ratio to wrk |")
        print("|---|---|---|---|---|")
        names = {"wrk": "wrk -t1", "hey": "hey -cpus 1",
                 "curl": "libcurl alone (multi_perform, bench/curl_ceiling.c)",
                 "sbx": "sbx test, libcurl adapter"}
        for k in ("wrk", "hey", "curl", "sbx"):
            rps, cpu, lo, hi = med[k]
            print(f"| {names[k]} | {rps:,.0f} [{lo:,.0f}-{hi:,.0f}] | {cpu:.1f} | "
                  f"{rps / med['wrk'][0]:.2f} | {cpu / med['wrk'][1]:.2f} |")
        ratios = [s[0] / w[0] for s, w in zip(res["sbx"], res["wrk"])]
        print(f"\nPer-round sbx/wrk req/s ratios: {', '.join(f'{x:.2f}' for x in ratios)}; "
              f"sbx/libcurl-alone: {med['sbx'][0] / med['curl'][0]:.2f}\n")

        print(f"### Open loop (constant spacing), {a.seconds} s each\n")
        print("| target rate | achieved rate | off target | schedule lag p99 | lag max | latency p99 | verdict |")
        print("|---|---|---|---|---|---|---|")
        for rate in [int(x) for x in a.rates.split(",")]:
            js = os.path.join(tmp, f"open{rate}.json")
            run_rusage(sbx_cmd(os.path.join(ROOT, "bench/specs/nginx-ok-open"), url, os.path.join(tmp, "data"), js,
                               ["--rate", f"{rate}/s", "--duration", f"{a.seconds}s"]), 1)
            j = json.load(open(js))
            m = j["metrics"]
            ach = float(m["achievedRate"])
            print(f"| {rate:,}/s | {ach:,.1f}/s | {abs(ach - rate) / rate * 100:.3f}% | "
                  f"{int(m['scheduleLagP99Us'])} µs | {int(m['scheduleLagMaxUs'])} µs | "
                  f"{int(m['latency']['p99Us'])} µs | {j['verdict']} |")

        print(f"\n### Memory against run length, open loop at {a.mem_rate:,}/s\n")
        print("| measured duration | requests | peak RSS |")
        print("|---|---|---|")
        rss_by = []
        for secs in [int(x) for x in a.mem_seconds.split(",")]:
            js = os.path.join(tmp, f"mem{secs}.json")
            rc, out, err, cpu, rss, wall = run_rusage(
                sbx_cmd(os.path.join(ROOT, "bench/specs/nginx-ok-open"), url, os.path.join(tmp, "data"), js,
                        ["--rate", f"{a.mem_rate}/s", "--duration", f"{secs}s"]), 1)
            j = json.load(open(js))
            rss_by.append(rss)
            print(f"| {secs} s | {int(j['metrics']['requests']):,} | {rss / 1024:.1f} MiB |")
        print(f"\nPeak RSS difference, longest minus shortest: {(rss_by[-1] - rss_by[0]) / 1024:.1f} MiB")
    finally:
        stop_nginx(run_dir)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
