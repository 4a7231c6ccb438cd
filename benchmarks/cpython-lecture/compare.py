"""The lecture's own code against conclab's cpython_* models, on the same six hash chains
and the same interpreter, interleaved (issue 17: within 1%).

    python3 benchmarks/cpython-lecture/compare.py [--rounds 5] [--iterations 1000000]
                                                  [--python python3] [--modes ...]

Per round and mode, the two sides run one after the other, the first side alternating
from round to round so that a slow minute of the machine does not always hit the same
side. The lecture (lecture.py) times its own work with perf_counter after its imports.
conclab's side is src/model/cpython/conclab_cpython.py driven over the protocol exactly as
conclab drives it (docs/external-models.md): PYTHONUNBUFFERED=1, its own session, wait for
the ready line, write the run line, and the wall time is run line written -> done line
read, which is what conclab records as wall_s. Both sides must reach the same digests.

Standard library only. Run it on a quiet machine: the figures are a few percent apart.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LECTURE = os.path.join(HERE, "lecture.py")
CONCLAB = os.path.join(ROOT, "src", "model", "cpython", "conclab_cpython.py")

PASSWORDS = ["pass", "passwd", "MyPassw", "MyPasswd123", "p", "a"]  # experiments/cpu-bound.toml
PASS_1M = ("795551a1c6923576e0335d47fafc233b63573c919a989a052f93bf2ab4d314818f"
           "bc515831a25c59ddbef2c3b259c6c3df7250fffb2b5ed9c482d9a8e28ed7fa")

# lecture mode -> (conclab model, workers): the lecture's ThreadPoolExecutor(3) and
# ProcessPoolExecutor(3), as experiments/cpu-bound.toml runs them.
MODES = {
    "sequential": ("cpython_sequential", 1),
    "threads": ("cpython_thread_pool", 3),
    "processes": ("cpython_process_pool", 3),
}


def run_lecture(python, mode, iterations):
    """(wall s as the lecture printed it, {password: digest})."""
    out = subprocess.run([python, LECTURE, mode, str(iterations)], check=True,
                         stdout=subprocess.PIPE, universal_newlines=True).stdout
    lines = out.splitlines()
    took = lines[-1].split()
    if took[:2] != [mode, "took"]:
        raise RuntimeError("lecture.py ended with %r" % lines[-1])
    return float(took[2]), dict(line.split() for line in lines[:-1])


def run_conclab(python, model, workers, iterations):
    """(wall s as conclab records it, {password: digest}, s before the first task started,
    s after the last task ended)."""
    tasks = json.dumps([{"task": i, "steps": [{"kind": "hash", "input": p,
                                               "iterations": iterations}]}
                        for i, p in enumerate(PASSWORDS)], separators=(",", ":"))
    proc = subprocess.Popen([python, CONCLAB], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"),
                            start_new_session=True)
    try:
        ready = json.loads(proc.stdout.readline())
        if ready.get("ready") is not True:
            raise RuntimeError("%s: first line is not ready: %r" % (model, ready))
        head = {"model": model, "workers": workers}
        epoch_ns = time.monotonic_ns()  # conclab: read the clock, then write the line
        head["epoch_ns"] = epoch_ns
        line = json.dumps(head, separators=(",", ":"))[:-1] + ',"tasks":' + tasks + "}\n"
        proc.stdin.write(line.encode("utf-8"))
        proc.stdin.flush()
        spans, digests = [], {}
        while True:
            raw = proc.stdout.readline()
            if not raw:
                raise RuntimeError("%s exited before its done line" % model)
            message = json.loads(raw)
            if message.get("done"):
                done_ns = time.monotonic_ns()
                break
            if not message["ok"]:
                raise RuntimeError("%s: task failed: %r" % (model, message))
            spans.append((message["start_ns"], message["end_ns"]))
            digests[PASSWORDS[message["task"]]] = message["steps"][0]["digest"]
        proc.stdin.close()
        if proc.wait(timeout=60) != 0:
            raise RuntimeError("%s exited with %s" % (model, proc.returncode))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lead = (min(s for s, _ in spans) - epoch_ns) / 1e9
    tail = (done_ns - max(e for _, e in spans)) / 1e9
    return (done_ns - epoch_ns) / 1e9, digests, lead, tail


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=1000000)
    parser.add_argument("--python", default="python3",
                        help="the interpreter of both sides (conclab's default: python3)")
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    args = parser.parse_args()

    implementation = subprocess.run(
        [args.python, "-c", "import platform, sys; print(platform.python_implementation(), "
         "platform.python_version(), sys.executable)"],
        check=True, stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    print("interpreter: %s; %d rounds of 6 chains x %d steps" % (
        implementation, args.rounds, args.iterations), flush=True)

    walls = {mode: {"lecture": [], "conclab": []} for mode in args.modes}
    edges = {mode: [] for mode in args.modes}
    for round_ in range(args.rounds):
        for mode in args.modes:
            model, workers = MODES[mode]
            sides = ["lecture", "conclab"] if round_ % 2 == 0 else ["conclab", "lecture"]
            found = {}
            for side in sides:
                if side == "lecture":
                    wall, found[side] = run_lecture(args.python, mode, args.iterations)
                else:
                    wall, found[side], lead, tail = run_conclab(
                        args.python, model, workers, args.iterations)
                    edges[mode].append((lead, tail))
                walls[mode][side].append(wall)
            if found["lecture"] != found["conclab"]:
                raise SystemExit("%s: the digests differ: lecture %r, conclab %r"
                                 % (mode, found["lecture"], found["conclab"]))
            if args.iterations == 1000000 and found["conclab"]["pass"] != PASS_1M:
                raise SystemExit("%s: the digest of 'pass' is not the known one" % mode)
            w = walls[mode]
            print("round %d  %-10s lecture %.3f s  %-20s %.3f s  ratio %.4f  (%s first)" % (
                round_ + 1, mode, w["lecture"][-1], model, w["conclab"][-1],
                w["conclab"][-1] / w["lecture"][-1], sides[0]), flush=True)

    print()
    print("%-10s %-21s %-21s %-24s %s" % ("mode", "lecture min/median s", "conclab min/median s",
                                        "ratio per round min/med/max", "ratio of mins"))
    for mode in args.modes:
        lec, con = walls[mode]["lecture"], walls[mode]["conclab"]
        ratios = [c / l for l, c in zip(lec, con)]
        print("%-10s %7.3f / %-11.3f %7.3f / %-11.3f %.4f / %.4f / %.4f   %.4f" % (
            mode, min(lec), statistics.median(lec), min(con), statistics.median(con),
            min(ratios), statistics.median(ratios), max(ratios), min(con) / min(lec)))
    print()
    print("conclab's wall outside its task spans, median (run line -> first task start; "
          "last task end -> done line read):")
    for mode in args.modes:
        leads, tails = zip(*edges[mode])
        print("%-10s %.1f ms before, %.1f ms after" % (
            mode, statistics.median(leads) * 1e3, statistics.median(tails) * 1e3))


if __name__ == "__main__":
    main()
