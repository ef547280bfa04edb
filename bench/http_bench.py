#!/usr/bin/env python3
"""Side-by-side HTTP load-generator benchmark against nginx on loopback.

Runs, in interleaved rounds, wrk, hey, libcurl alone and `sbx test` with
each HTTP client (closed loop, same connection count) against nginx's tiny
fixed reply, then against sbx_faultd (a minimal static-reply server). The
target is pinned to core 0 and the load generator to core 1. For each tool
it records requests per second, the tool's own CPU time per request (user +
system, from wait4), the target's CPU time per request (from /proc, to show
when the target is the limit) and latency p50/p99, and prints ratios to
wrk: the median of the per-round ratios (each round runs every tool once,
back to back, so a round's ratio compares like with like on a shared
machine) and the ratio of the medians.

Then it runs sbx in open loop at the given rates and at 50% and 90% of the
fast client's closed-loop maximum (achieved rate, the harness's schedule
lag), and two open-loop runs of different lengths at the same rate to show
that memory does not grow with run length.

Usage: bench/http_bench.py [--rounds 3] [--seconds 10] [--conns 64]
                           [--rates 1000,10000] [--mem-seconds 10,60]
                           [--tools wrk,hey,curl,sbx-curl,sbx-fast]
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


def proc_cpu_s(pid):
    """CPU time (user + system) a live process has used, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def nginx_worker(run_dir):
    master = open(os.path.join(run_dir, "nginx.pid")).read().strip()
    kids = open(f"/proc/{master}/task/{master}/children").read().split()
    return int(kids[0])


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


def start_faultd():
    p = subprocess.Popen(["taskset", "-c", "0", os.path.join(BIN, "sbx_faultd"), "--port", "0"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline().strip()
    return p, "http://127.0.0.1:" + line.split("=", 1)[1]


def pct_ms(text, pattern):
    m = re.search(pattern, text)
    if not m:
        return float("nan")
    v, unit = float(m.group(1)), m.group(2) if m.lastindex >= 2 else "s"
    return v * {"us": 1e-3, "ms": 1.0, "s": 1e3, "secs": 1e3}.get(unit, 1.0)


def closed_round(a, tmp, url, path, spec, r, target_pid):
    """One round of every tool, back to back, against url+path; returns
    {tool: (req/s, cpu µs/req, p50 ms, p99 ms, target cpu µs/req)}."""
    target = url + path
    out_by = {}

    def timed(cmd):
        t0 = proc_cpu_s(target_pid)
        res = run_rusage(cmd, 1)
        return res, proc_cpu_s(target_pid) - t0

    if "wrk" in a.tools:
        (rc, out, err, cpu, rss, wall), tcpu = timed(
            ["wrk", "-t1", f"-c{a.conns}", f"-d{a.seconds}s", "--latency", target])
        n, rps = parse_wrk(out)
        out_by["wrk"] = (rps, cpu / n * 1e6, pct_ms(out, r"\s50%\s+([\d.]+)(us|ms|s)"),
                         pct_ms(out, r"\s99%\s+([\d.]+)(us|ms|s)"), tcpu / n * 1e6)
    if "hey" in a.tools:
        (rc, out, err, cpu, rss, wall), tcpu = timed(
            ["hey", "-c", str(a.conns), "-z", f"{a.seconds}s", "-cpus", "1", target])
        n, rps = parse_hey(out)
        out_by["hey"] = (rps, cpu / n * 1e6, pct_ms(out, r"50% in ([\d.]+) (secs)"),
                         pct_ms(out, r"99% in ([\d.]+) (secs)"), tcpu / n * 1e6)
    if "curl" in a.tools:
        (rc, out, err, cpu, rss, wall), tcpu = timed(
            [os.path.join(BIN, "sbx-bench-curl-ceiling"), target, str(a.conns), str(a.seconds)])
        n = int(re.search(r"requests (\d+)", out).group(1))
        out_by["curl"] = (float(re.search(r"rate ([\d.]+)", out).group(1)), cpu / n * 1e6,
                          float("nan"), float("nan"), tcpu / n * 1e6)
    for client in ("curl", "fast"):
        if "sbx-" + client not in a.tools:
            continue
        js = os.path.join(tmp, f"closed-{client}-{r}.json")
        (rc, out, err, cpu, rss, wall), tcpu = timed(
            sbx_cmd(spec, url, os.path.join(tmp, "data"), js,
                    ["--concurrency", str(a.conns), "--duration", f"{a.seconds}s",
                     "--warmup", "0s", "--http-client", client]))
        j = json.load(open(js))
        m = j["metrics"]
        n = int(m["requests"]) + int(m.get("warmupRequests", 0))
        out_by["sbx-" + client] = (float(m["throughput"]), cpu / n * 1e6,
                                   int(m["latency"]["p50Us"]) / 1e3, int(m["latency"]["p99Us"]) / 1e3,
                                   tcpu / n * 1e6)
        if j["verdict"] != "VERDICT_PASS":
            print(f"warning: sbx {client} verdict {j['verdict']}", file=sys.stderr)
    return out_by


NAMES = {"wrk": "wrk -t1", "hey": "hey -cpus 1",
         "curl": "libcurl alone (bench/curl_ceiling.c)",
         "sbx-curl": "sbx test, libcurl client", "sbx-fast": "sbx test, fast client"}


def report_closed(a, title, rounds):
    tools = list(rounds[0].keys())
    med = {}
    for k in tools:
        v = [rd[k] for rd in rounds]
        med[k] = tuple(statistics.median(x[i] for x in v) for i in range(5)) + \
            (min(x[0] for x in v), max(x[0] for x in v))
    print(f"### Closed loop against {title}, {a.conns} connections, {a.seconds} s x {a.rounds} rounds\n")
    print("| tool | req/s median [min-max] | CPU µs/req | target CPU µs/req | target busy | "
          "req/s / wrk, median of rounds [min-max] | CPU/req / wrk | p50 | p99 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for k in tools:
        rps, cpu, p50, p99, tcpu, lo, hi = med[k]
        lat = "" if p50 != p50 else f"{p50:.2f} ms | {p99:.2f} ms"
        ratios = [rd[k][0] / rd["wrk"][0] for rd in rounds]
        cratios = [rd[k][1] / rd["wrk"][1] for rd in rounds]
        print(f"| {NAMES[k]} | {rps:,.0f} [{lo:,.0f}-{hi:,.0f}] | {cpu:.2f} | {tcpu:.2f} | "
              f"{rps * tcpu / 1e6 * 100:.0f}% | {statistics.median(ratios):.2f} "
              f"[{min(ratios):.2f}-{max(ratios):.2f}] | {statistics.median(cratios):.2f} | "
              f"{lat or '- | -'} |")
    for k in ("sbx-fast", "sbx-curl"):
        if k in tools:
            ratios = [rd[k][0] / rd["wrk"][0] for rd in rounds]
            above = sum(1 for x in ratios if x >= 1.0)
            print(f"\nPer-round {k}/wrk req/s ({above} of {len(ratios)} at or above 1.0): "
                  f"{', '.join(f'{x:.2f}' for x in ratios)}")
    print("\n'target busy' is req/s times the target's CPU per request: near 100%, the "
          "target (one core) is the limit and every load generator that keeps it busy "
          "reaches the same rate.\n")
    return med


def open_loop(a, tmp, url, spec, rates, label):
    print(f"### Open loop (constant spacing, fast client), {a.seconds} s each{label}\n")
    print("| target rate | achieved rate | off target | schedule lag p99 | lag max | latency p50 | latency p99 | verdict |")
    print("|---|---|---|---|---|---|---|---|")
    for rate in rates:
        js = os.path.join(tmp, f"open{rate}.json")
        run_rusage(sbx_cmd(spec, url, os.path.join(tmp, "data"), js,
                           ["--rate", f"{rate}/s", "--duration", f"{a.seconds}s"]), 1)
        j = json.load(open(js))
        m = j["metrics"]
        ach = float(m["achievedRate"])
        print(f"| {rate:,}/s | {ach:,.1f}/s | {abs(ach - rate) / rate * 100:.3f}% | "
              f"{int(m['scheduleLagP99Us'])} µs | {int(m['scheduleLagMaxUs'])} µs | "
              f"{int(m['latency']['p50Us'])} µs | {int(m['latency']['p99Us'])} µs | {j['verdict']} |")
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--rates", default="1000,10000")
    ap.add_argument("--mem-seconds", default="10,60")
    ap.add_argument("--mem-rate", type=int, default=10000)
    ap.add_argument("--skip-faultd", action="store_true")
    ap.add_argument("--tools", default="wrk,hey,curl,sbx-curl,sbx-fast",
                    help="comma-separated subset of wrk,hey,curl,sbx-curl,sbx-fast (wrk is always run)")
    a = ap.parse_args()
    a.tools = set(a.tools.split(",")) | {"wrk"}
    for tool in ("wrk", "hey", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"bench: {tool} is missing; run scripts/setup.sh")
    tmp = tempfile.mkdtemp(prefix="sbx-bench.")
    url, run_dir = start_nginx(tmp)
    faultd = None
    try:
        rounds = []
        for r in range(a.rounds):
            rounds.append(closed_round(a, tmp, url, "/__sbx_ok", os.path.join(ROOT, "bench/specs/nginx-ok"), r,
                                       nginx_worker(run_dir)))
            print(f"nginx round {r+1}: " + ", ".join(f"{k} {v[0]:.0f}/s" for k, v in rounds[-1].items()),
                  file=sys.stderr)
        print("nginx 1.22 with 1 worker on core 0, load generator on core 1, `GET /__sbx_ok` (3-byte body).\n")
        med = report_closed(a, "nginx", rounds)
        fast_max = med["sbx-fast"][0] if "sbx-fast" in med else med["wrk"][0]

        if not a.skip_faultd:
            faultd, furl = start_faultd()
            rounds = []
            for r in range(a.rounds):
                rounds.append(closed_round(a, tmp, furl, "/ok/bench", os.path.join(ROOT, "bench/specs/faultd-ok"), r,
                                           faultd.pid))
                print(f"faultd round {r+1}: " + ", ".join(f"{k} {v[0]:.0f}/s" for k, v in rounds[-1].items()),
                      file=sys.stderr)
            print("sbx_faultd (single-threaded libuv, fixed reply) on core 0, load generator on core 1.\n")
            report_closed(a, "sbx_faultd", rounds)

        spec = os.path.join(ROOT, "bench/specs/nginx-ok-open")
        open_loop(a, tmp, url, spec, [int(x) for x in a.rates.split(",")], " against nginx")
        r50, r90 = int(fast_max * 0.5), int(fast_max * 0.9)
        open_loop(a, tmp, url, spec, [r50, r90],
                  f": 50% and 90% of the fast client's closed-loop maximum ({fast_max:,.0f}/s)")

        print(f"### Memory against run length, open loop at {a.mem_rate:,}/s\n")
        print("| measured duration | requests | peak RSS |")
        print("|---|---|---|")
        rss_by = []
        for secs in [int(x) for x in a.mem_seconds.split(",")]:
            js = os.path.join(tmp, f"mem{secs}.json")
            rc, out, err, cpu, rss, wall = run_rusage(
                sbx_cmd(spec, url, os.path.join(tmp, "data"), js,
                        ["--rate", f"{a.mem_rate}/s", "--duration", f"{secs}s"]), 1)
            j = json.load(open(js))
            rss_by.append(rss)
            print(f"| {secs} s | {int(j['metrics']['requests']):,} | {rss / 1024:.1f} MiB |")
        print(f"\nPeak RSS difference, longest minus shortest: {(rss_by[-1] - rss_by[0]) / 1024:.1f} MiB")
    finally:
        if faultd is not None:
            faultd.terminate()
            faultd.wait()
        stop_nginx(run_dir)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
