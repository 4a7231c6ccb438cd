"""Drives src/model/cpython/conclab_cpython.py the way conclab does, over the protocol of
docs/external-models.md, as `python3 <file>` and as `python3 -c <text>`, against a small
threaded HTTP server of its own.

    python3 -m unittest discover -s tests/cpython        (cargo test runs it too)
    python3 tests/cpython/test_conclab_cpython.py bench  (six 1M-step chains, 3 rounds)

Standard library only.
"""

import ast
import concurrent.futures
import hashlib
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "src", "model", "cpython", "conclab_cpython.py")
LECTURE = os.path.join(ROOT, "benchmarks", "cpython-lecture", "lecture.py")
PYTHON = os.environ.get("CONCLAB_TEST_PYTHON") or sys.executable

PASS_1000 = ("e907f4045ca9cdf3db84faeae1d10edc5ff5d8f306045eaf3da545af7b06316842"
             "b503f620ba85debb21fe4ecceb2adb994fb158653a62925552202c2a057855")

MODELS = ["cpython_sequential", "cpython_threads", "cpython_thread_pool",
          "cpython_process_pool", "cpython_asyncio", "cpython_asyncio_blocking",
          "cpython_to_thread"]
ONE_LANE = {"cpython_sequential", "cpython_asyncio", "cpython_asyncio_blocking"}


def chain(text, iterations):
    b = text.encode("utf-8")
    for _ in range(iterations):
        b = hashlib.sha512(b).hexdigest().encode("ascii")
    return b.decode("ascii")


# ---------------------------------------------------------------- the HTTP server

def parse_delay(text):
    for suffix, scale in (("ms", 1e-3), ("us", 1e-6), ("s", 1.0)):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * scale
    return float(text) / 1000


class DelayHandler(http.server.BaseHTTPRequestHandler):
    """GET /delay/<200ms|1s|200>?bytes=N&status=S[&body=length|eof|chunked]."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path.startswith("/delay/"):
            time.sleep(parse_delay(url.path[len("/delay/"):]))
        body = b"x" * int(query.get("bytes", 1024))
        how = query.get("body", "length")
        self.send_response(int(query.get("status", 200)))
        if how == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(0, len(body), 1000):
                piece = body[i:i + 1000]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\n\r\n")
        elif how == "eof":
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args):
        pass


class QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that gave up
            super().handle_error(request, client_address)


class Server:
    def __init__(self):
        self.httpd = QuietServer(("127.0.0.1", 0), DelayHandler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base = "http://127.0.0.1:%d" % self.httpd.server_address[1]

    def url(self, delay="0ms", **query):
        return "%s/delay/%s?%s" % (self.base, delay, urllib.parse.urlencode(query))

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------- the driver

class Outcome:
    def __init__(self, ready, tasks, done, wall_s, stderr):
        self.ready, self.tasks, self.done, self.wall_s, self.stderr = ready, tasks, done, wall_s, stderr

    def results(self, task):
        return self.tasks[task]["steps"]


def start(mode, env=None):
    argv = [PYTHON, SCRIPT]
    if mode == "-c":
        with open(SCRIPT, encoding="utf-8") as f:
            argv = [PYTHON, "-c", f.read()]
    stderr = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                            env=dict(os.environ, **(env or {})))
    return proc, stderr


def drive(test, model, tasks, workers=2, sync=None, mode="file", env=None, timeout=60):
    """Runs one repetition as conclab does and checks the protocol; returns an Outcome.

    `tasks` is a list of step lists; task i is {"task": i, "steps": tasks[i]}."""
    proc, stderr = start(mode, env)
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    try:
        ready = json.loads(proc.stdout.readline().decode("utf-8"))
        test.assertEqual(ready.get("ready"), True, "the first line must be ready")
        test.assertIsInstance(ready.get("implementation"), str)
        run = {"model": model, "workers": workers,
               "tasks": [{"task": i, "steps": steps} for i, steps in enumerate(tasks)]}
        if sync is not None:
            run["counter"] = {"sync": sync}
        run["epoch_ns"] = epoch = time.monotonic_ns()
        proc.stdin.write((json.dumps(run) + "\n").encode("utf-8"))
        proc.stdin.flush()
        lines, done, done_ns = [], None, None
        while done is None:
            raw = proc.stdout.readline()
            if not raw:
                break
            message = json.loads(raw.decode("utf-8"))  # every line is JSON: no garbage
            test.assertIsInstance(message, dict)
            if message.get("done"):
                done, done_ns = message, time.monotonic_ns()
            else:
                lines.append(message)
        rest, _ = proc.communicate(timeout=timeout)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr.seek(0)
    err = stderr.read().decode("utf-8", "replace")
    stderr.close()
    where = "%s (%s) stderr:\n%s" % (model, mode, err)
    test.assertIsNotNone(done, "no done line: " + where)
    test.assertEqual(rest, b"", "output after done: " + where)
    test.assertEqual(proc.returncode, 0, where)
    test.assertEqual(err, "", "warnings or tracebacks: " + where)

    by_task = {}
    for line in lines:
        test.assertEqual(set(line), {"task", "lane", "start_ns", "end_ns", "ok", "steps"}, line)
        test.assertNotIn(line["task"], by_task, "task reported twice: %s" % where)
        by_task[line["task"]] = line
        test.assertTrue(epoch <= line["start_ns"] <= line["end_ns"] <= done_ns, line)
        test.assertIsInstance(line["lane"], int)
        test.assertGreaterEqual(line["lane"], 0)
        if model in ONE_LANE:
            test.assertEqual(line["lane"], 0, line)
        elif model != "cpython_threads":
            test.assertLess(line["lane"], workers, line)
        steps = tasks[line["task"]]
        test.assertEqual(len(line["steps"]), len(steps), line)
        test.assertEqual(line["ok"], not any("error" in r for r in line["steps"]), line)
    test.assertEqual(sorted(by_task), list(range(len(tasks))), where)
    if model == "cpython_threads":  # a thread per task
        test.assertEqual(sorted(l["lane"] for l in lines), list(range(len(tasks))))

    has_counter = sync is not None or any(s["kind"] == "counter" for t in tasks for s in t)
    test.assertEqual("counter" in done, has_counter, done)
    test.assertGreaterEqual(done["user_s"], 0)
    test.assertGreaterEqual(done["sys_s"], 0)
    test.assertIsInstance(done["max_rss_kib"], int)
    if sys.platform.startswith("linux"):
        test.assertGreater(done["max_rss_kib"], 1000)
    return Outcome(ready, by_task, done, (done_ns - epoch) / 1e9, err)


def drive_all(test, runs, at_once=4):
    """drive() for each dict of arguments, a few at a time (these runs mostly wait);
    the futures, in order: `.result()` gives the Outcome or raises what drive raised."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=at_once) as pool:
        return [pool.submit(drive, test, **run) for run in runs]


def hash_step(text, iterations):
    return {"kind": "hash", "input": text, "iterations": iterations}


def sleep_step(seconds):
    return {"kind": "sleep", "seconds": seconds}


def http_step(url, timeout_s=10.0, http2=False):
    return {"kind": "http", "url": url, "timeout_s": timeout_s, "http2": http2}


def counter_step(wait_s):
    return {"kind": "counter", "wait_s": wait_s}


# ---------------------------------------------------------------- the tests

class ScriptTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server()

    @classmethod
    def tearDownClass(cls):
        cls.server.close()

    def test_source_is_python38_ascii_and_fits_a_command_line(self):
        with open(SCRIPT, "rb") as f:
            raw = f.read()
        raw.decode("ascii")  # no encoding questions when passed to -c
        ast.parse(raw, feature_version=(3, 8))
        # Windows caps a command line at 32767 characters, and conclab may use -c.
        self.assertLess(len(raw), 30000)

    def test_hash_loop_is_the_lectures_own(self):
        # The cpython_* models claim to cost what the lesson's code costs: the chain is
        # the lecture's function, statement for statement (.encode("ascii") cost 2.5%).
        def body(path):
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read())
            function = next(node for node in tree.body
                            if isinstance(node, ast.FunctionDef) and node.name == "hash_chain")
            statements = function.body
            if isinstance(statements[0], ast.Expr) and isinstance(statements[0].value, ast.Constant):
                statements = statements[1:]  # the docstring
            return ast.dump(function.args) + "".join(ast.dump(s) for s in statements)

        self.assertEqual(body(SCRIPT), body(LECTURE))

    def every_step_kind(self, mode):
        s = self.server
        snowman = "na\u00efve \u2603 \U0001F680"
        tasks = [
            [hash_step("pass", 1000)],
            [hash_step("\u043f\u0430\u0440\u043e\u043b\u044c", 1000)],  # "пароль"
            [hash_step(snowman, 3)],
            [sleep_step(0.05)],
            [http_step(s.url("20ms", bytes=1024, status=200))],
            [http_step(s.url("0ms", bytes=0, status=503))],
            [http_step(s.url("10ms", bytes=777, body="eof"))],
            [http_step(s.url("10ms", bytes=5000, body="chunked"))],
            [http_step(s.url("0ms"), http2=True)],
            [http_step("http://127.0.0.1:%d/" % closed_port())],
            [http_step(s.url("2s"), timeout_s=0.3)],
            [counter_step(0.01)],
            [counter_step(0.01)],
            [hash_step("pass", 1000), sleep_step(0.01)],  # mixed
            [http_step(s.url("5ms", bytes=10)), sleep_step(0.01), counter_step(0.01)],
            [http_step(s.url("0ms"), http2=True), sleep_step(0.01)],
        ]
        runs = drive_all(self, [dict(model=model, tasks=tasks, workers=3, sync="mutex", mode=mode)
                                for model in MODELS])
        for model, run in zip(MODELS, runs):
            with self.subTest(model=model, mode=mode):
                out = run.result()
                r = out.results
                self.assertEqual(r(0), [{"digest": PASS_1000}])
                self.assertEqual(r(1), [{"digest": chain("\u043f\u0430\u0440\u043e\u043b\u044c", 1000)}])
                self.assertEqual(r(2), [{"digest": chain(snowman, 3)}])
                self.assertEqual(r(3), [{}])
                self.assertEqual(r(4), [{"status": 200, "bytes": 1024}])
                self.assertEqual(r(5), [{"status": 503, "bytes": 0}])  # conclab judges it
                self.assertTrue(out.tasks[5]["ok"])
                self.assertEqual(r(6), [{"status": 200, "bytes": 777}])
                self.assertEqual(r(7), [{"status": 200, "bytes": 5000}])
                self.assertEqual(r(8)[0]["error"], "protocol")
                self.assertEqual(r(9)[0]["error"], "connect", r(9))
                self.assertEqual(r(10)[0]["error"], "timeout", r(10))
                for task in (8, 9, 10):
                    self.assertFalse(out.tasks[task]["ok"])
                    self.assertIsInstance(r(task)[0]["detail"], str)
                span = out.tasks[10]["end_ns"] - out.tasks[10]["start_ns"]
                self.assertTrue(0.25e9 < span < 1.5e9, span)
                self.assertEqual(r(11), [{}])
                self.assertEqual(r(13), [{"digest": PASS_1000}, {}])
                self.assertEqual(r(14), [{"status": 200, "bytes": 10}, {}, {}])
                self.assertEqual(r(15)[0]["error"], "protocol")
                self.assertEqual(r(15)[1]["error"], "skipped")
                self.assertEqual(out.done["counter"], 3)
                self.assertGreaterEqual(
                    out.tasks[3]["end_ns"] - out.tasks[3]["start_ns"], 0.05e9 - 1e6)

    def test_every_model_every_step_kind_as_a_file(self):
        self.every_step_kind("file")

    def test_every_model_every_step_kind_as_dash_c(self):
        self.every_step_kind("-c")

    def test_process_pool_with_spawned_workers(self):
        # Not Linux's fork: the children must import the program, which -c makes hard.
        tasks = [[hash_step("pass", 1000), counter_step(0.01)] for _ in range(4)]
        for mode in ("file", "-c"):
            with self.subTest(mode=mode):
                out = drive(self, "cpython_process_pool", tasks, workers=2, sync="mutex",
                            mode=mode, env={"CONCLAB_CPYTHON_START_METHOD": "spawn"})
                for task in range(4):
                    self.assertEqual(out.results(task), [{"digest": PASS_1000}, {}])
                self.assertEqual(out.done["counter"], 4)

    def test_counter_final_values(self):
        ten = [[counter_step(0.01)] for _ in range(10)]
        racing = [[counter_step(0.05)] for _ in range(10)]
        locked = drive_all(self, [dict(model=model, tasks=ten, workers=5, sync=sync)
                                  for sync in ("mutex", "atomic") for model in MODELS])
        none = drive_all(self, [dict(model=model, tasks=racing, workers=5, sync="none")
                                for model in MODELS])
        for (sync, model), run in zip([(y, m) for y in ("mutex", "atomic") for m in MODELS],
                                      locked):
            with self.subTest(model=model, sync=sync):
                self.assertEqual(run.result().done["counter"], 10)
        for model, run in zip(MODELS, none):
            with self.subTest(model=model, sync="none"):
                out = run.result()
                if model in ("cpython_sequential", "cpython_asyncio_blocking"):
                    self.assertEqual(out.done["counter"], 10)  # nothing overlaps
                else:
                    self.assertLess(out.done["counter"], 10, "no update was lost")

    def test_concurrency_shape_of_five_sleeps(self):
        five = [[sleep_step(0.2)] for _ in range(5)]
        for model in MODELS:
            with self.subTest(model=model):
                out = drive(self, model, five, workers=5)
                spans = out.tasks.values()
                busy = (max(t["end_ns"] for t in spans) - min(t["start_ns"] for t in spans)) / 1e9
                if model in ("cpython_sequential", "cpython_asyncio_blocking"):
                    self.assertGreater(out.wall_s, 0.9)
                    self.assertGreater(busy, 0.9)
                elif model == "cpython_process_pool":
                    self.assertLess(busy, 0.6)  # the pool's start-up is in wall_s
                else:
                    self.assertLess(out.wall_s, 0.6)

    def test_bad_run_lines_exit_non_zero_with_a_message(self):
        for line, words in ((b'{"model": "cpython_nothing", "workers": 1, "tasks": []}\n',
                             "unknown model"),
                            (b"", "no run line"),
                            (b"not json\n", "bad run line")):
            with self.subTest(line=line):
                proc, stderr = start("file")
                out, _ = proc.communicate(line, timeout=30)
                stderr.seek(0)
                self.assertIn(words, stderr.read().decode())
                stderr.close()
                self.assertEqual(proc.returncode, 2)
                self.assertEqual([json.loads(l)["ready"] for l in out.splitlines()], [True])


# ---------------------------------------------------------------- figures for the README

def bench(rounds=3, chains=6, iterations=1000000):
    """Six 1M-step chains under each model, interleaved rounds; wall from run line to done."""
    test = unittest.TestCase()
    tasks = [[hash_step("pass", iterations)] for _ in range(chains)]
    cells = [("cpython_sequential", 1), ("cpython_threads", chains), ("cpython_process_pool", 2)]
    walls = {cell: [] for cell in cells}
    for _ in range(rounds):
        for model, workers in cells:
            out = drive(test, model, tasks, workers=workers, timeout=600)
            assert len({r["steps"][0]["digest"] for r in out.tasks.values()}) == 1
            walls[(model, workers)].append(out.wall_s)
            print("%-22s w=%d  wall %.2f s  user %.2f s  sys %.2f s" % (
                model, workers, out.wall_s, out.done["user_s"], out.done["sys_s"]), flush=True)
    for (model, workers), w in walls.items():
        print("%-22s w=%d  %.2f-%.2f s" % (model, workers, min(w), max(w)))


if __name__ == "__main__":
    if sys.argv[1:2] == ["bench"]:
        bench()
    else:
        unittest.main()
