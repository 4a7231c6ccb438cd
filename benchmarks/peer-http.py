#!/usr/bin/env python3
"""conclab's async HTTP clients against oha, on one `conclab serve`, interleaved.

    python3 benchmarks/peer-http.py [--rounds 5] [--points 1000,3000,10000] [--latency 200ms]

Installs oha into benchmarks/.peer (git-ignored; `cargo install oha --locked`, skipped
when present), builds conclab and examples/peer_http.rs in release, starts
`conclab serve` once on 127.0.0.1, then for every round, point (requests, all in flight)
and HTTP version runs oha, `async` (W = requests) and `async_pool` (W = cores, every
task spawned at once) one after another, the order rotating from round to round. Prints
each tool's median time and the ratio conclab / oha per point: the median, min and max
of the per-round ratios (each conclab run against the oha run beside it).

Times are wall times of the requests alone, both ending at the last answer: oha's
`summary.total`; conclab's as runs.csv measures them (runtime start-up included, process
start-up not, nor the runtime's shut-down after the last task, in which it closes its idle
connections: over HTTP/1.1 about 10 / 43 / 140 ms at 1,000 / 3,000 / 10,000 here). Every request must be
answered 200, or the point is marked. The open-file limit (20,000 here) bounds the points:
at 10,000 over HTTP/1.1 the client holds 10,000 sockets and the server as many.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEER = ROOT / "benchmarks" / ".peer"
OHA = PEER / "bin" / "oha"
CONCLAB = ROOT / "target" / "release" / "conclab"
CLIENT = ROOT / "target" / "release" / "examples" / "peer_http"


def install_oha():
    if OHA.exists():
        return
    print(f"installing oha into {PEER} (once)", file=sys.stderr)
    subprocess.run(
        ["cargo", "install", "oha", "--locked", "--root", str(PEER)], check=True
    )


def build_conclab():
    subprocess.run(
        ["cargo", "build", "--release", "--bin", "conclab", "--example", "peer_http"],
        cwd=ROOT,
        check=True,
    )


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(latency):
    port = free_port()
    server = subprocess.Popen(
        [str(CONCLAB), "serve", "--port", str(port), "--latency", latency],
        stdout=subprocess.PIPE,
        text=True,
    )
    line = server.stdout.readline()
    if "listening on" not in line:
        server.kill()
        sys.exit(f"conclab serve did not start: {line!r}")
    return server, f"http://127.0.0.1:{port}"


def run_oha(base, latency, n, version):
    url = f"{base}/delay/{latency}?bytes=1024&status=200"
    cmd = [str(OHA), "-n", str(n), "--no-tui", "--output-format", "json"]
    if version == "2":
        # One connection carrying every request as a stream, as conclab's HTTP/2 client.
        cmd += ["--http2", "-c", "1", "-p", str(n)]
    else:
        cmd += ["-c", str(n)]
    out = subprocess.run(cmd + [url], capture_output=True, text=True)
    if out.returncode != 0:
        return None, f"oha failed: {out.stderr.strip()[-200:]}"
    report = json.loads(out.stdout)
    statuses = report.get("statusCodeDistribution", {})
    ok = statuses.get("200", 0) == n
    return report["summary"]["total"], None if ok else f"oha statuses {statuses}"


def run_conclab(base, latency, n, version, model):
    workers = n if model == "async" else os.cpu_count()
    cmd = [str(CLIENT), base, model, str(workers), str(n), latency, version]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        return None, f"{model} failed: {out.stderr.strip()[-200:]}"
    report = json.loads(out.stdout)
    ok = report["check"] == "pass"
    return report["wall_s"], None if ok else f"{model}: {report['detail']}"


def spread(values):
    return min(values), statistics.median(values), max(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--points", default="1000,3000,10000")
    parser.add_argument("--versions", default="1.1,2")
    parser.add_argument("--models", default="async,async_pool")
    parser.add_argument("--latency", default="200ms")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    points = [int(p) for p in args.points.split(",")]
    versions = args.versions.split(",")
    models = args.models.split(",")

    install_oha()
    if not args.no_build:
        build_conclab()
    server, base = start_server(args.latency)
    tools = ["oha"] + models
    times = {}  # (n, version, tool) -> [seconds per round]
    problems = []
    try:
        for r in range(args.rounds):
            for n in points:
                for version in versions:
                    # Rotate who goes first, so no tool always follows the same one.
                    order = tools[r % len(tools) :] + tools[: r % len(tools)]
                    for tool in order:
                        if tool == "oha":
                            t, problem = run_oha(base, args.latency, n, version)
                        else:
                            t, problem = run_conclab(base, args.latency, n, version, tool)
                        times.setdefault((n, version, tool), []).append(t)
                        if problem:
                            problems.append(f"round {r + 1} n={n} http/{version}: {problem}")
                        # Let the closed connections leave TIME_WAIT's hold on the server.
                        time.sleep(0.5)
                    print(
                        f"round {r + 1}/{args.rounds} n={n} http/{version}: "
                        + " ".join(
                            f"{t}={times[(n, version, t)][-1]:.3f}s"
                            if times[(n, version, t)][-1] is not None
                            else f"{t}=failed"
                            for t in tools
                        ),
                        file=sys.stderr,
                    )
    finally:
        server.kill()
        server.wait()

    print(f"\n{args.rounds} interleaved rounds against one `conclab serve --latency {args.latency}`")
    print(f"{'requests':>9} {'http':>4} {'tool':<11} {'median s':>9}   conclab/oha: median [min-max]")
    for n in points:
        for version in versions:
            oha = times[(n, version, "oha")]
            for tool in tools:
                ts = times[(n, version, tool)]
                done = [t for t in ts if t is not None]
                median = f"{statistics.median(done):9.3f}" if done else "   failed"
                ratio = ""
                if tool != "oha":
                    pairs = [c / o for c, o in zip(ts, oha) if c is not None and o is not None]
                    if pairs:
                        lo, mid, hi = spread(pairs)
                        ratio = f"{mid:.2f} [{lo:.2f}-{hi:.2f}]"
                print(f"{n:>9} {version:>4} {tool:<11} {median}   {ratio}")
    for p in problems:
        print(f"warning: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
