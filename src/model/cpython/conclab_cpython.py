"""conclab's CPython models: the lecture's concurrency examples, run by the real interpreter.

conclab starts this program once per repetition, as `python3 conclab_cpython.py` or as
`python3 -c "<this text>"`, and talks to it in lines of JSON (docs/external-models.md):

  program -> conclab  {"ready": true, "implementation": "CPython 3.11.7"}
  conclab -> program  {"model": "cpython_thread_pool", "workers": 2, "tasks": [...], ...}
  program -> conclab  {"task": 3, "lane": 1, "start_ns": ..., "end_ns": ..., "ok": true,
                       "steps": [...]}                            (one line per task)
  program -> conclab  {"done": true, "counter": 10, "user_s": ..., "sys_s": ...,
                       "max_rss_kib": ...}

Each model runs the tasks the way the lecture writes it:

  cpython_sequential        a for loop
  cpython_threads           a threading.Thread per task: all started, then all joined
  cpython_thread_pool       ThreadPoolExecutor(W)
  cpython_process_pool      ProcessPoolExecutor(W); the counter lives in a Manager
  cpython_asyncio           coroutines on one event loop, at most W in flight, gathered
  cpython_asyncio_blocking  the same coroutines, but their waits are blocking calls
  cpython_to_thread         the blocking calls handed to threads with asyncio.to_thread

A task is a list of steps: hash (a SHA-512 chain: pure CPU, holds the GIL), sleep,
http (a GET) and counter (read, wait, write read + 1: the lost-update race).

Standard library only, Python 3.8 or newer, one self-contained file.
"""

import asyncio
import concurrent.futures
import hashlib
import http.client
import json
import multiprocessing
import os
import platform
import socket
import sys
import sysconfig
import threading
import time
import urllib.parse

try:
    import resource  # CPU time and peak memory; POSIX only
except ImportError:
    resource = None
try:
    import ssl  # only for https:// URLs
except ImportError:
    ssl = None


# ---------------------------------------------------------------- talking to conclab

_stdout_lock = threading.Lock()


def send(message):
    """Writes one protocol line. Threads finish tasks at the same time: one writer at once."""
    line = json.dumps(message, separators=(",", ":")) + "\n"
    with _stdout_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def implementation():
    """What runs the tasks, as results record it: e.g. `CPython 3.13.5 free-threading (GIL
    disabled)`. A free-threaded build may still enable the GIL at run time (PYTHON_GIL=1, or
    an extension module that asks for it), so the build and the run-time state are both said."""
    name = platform.python_implementation() + " " + platform.python_version()
    pypy = getattr(sys, "pypy_version_info", None)
    if pypy is not None:  # PyPy's own release, then the language version it implements
        name = "PyPy %d.%d.%d (Python %s)" % (pypy[0], pypy[1], pypy[2], platform.python_version())
    free_threading = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    gil_enabled = getattr(sys, "_is_gil_enabled", None)  # 3.13+
    if free_threading:
        enabled = gil_enabled() if gil_enabled is not None else True
        name += " free-threading (GIL " + ("enabled" if enabled else "disabled") + ")"
    return name


class Lanes:
    """A small integer per thread, in the order threads first ask (for the timeline)."""

    def __init__(self):
        self._lanes = {}
        self._lock = threading.Lock()

    def current(self):
        with self._lock:
            return self._lanes.setdefault(threading.get_ident(), len(self._lanes))


# ---------------------------------------------------------------- the steps

class StepError(Exception):
    """A step that failed in a way the protocol names: timeout, connect, io, protocol."""

    def __init__(self, kind, detail):
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


def hash_chain(password, iterations):
    """h = utf8(password); then `iterations` times h = lowercase hex of sha512(h), as bytes.

    Written word for word as the lecture writes it, because this model claims to cost what
    the lesson's code costs (benchmarks/cpython-lecture/compare.py holds it to that): the
    default `.encode()` (UTF-8, which hex digits are too), not `.encode("ascii")`, whose
    argument parsing and codec lookup cost ~20 ns a step, 2.5% of a step; and no faster
    tricks the lecture does not use (`sha512` bound to a local, a bytes-to-hex shortcut)."""
    h = password.encode()
    for _ in range(iterations):
        h = hashlib.sha512(h).hexdigest().encode()
    return h.decode()


HTTP2_DETAIL = "HTTP/2 needs a third-party client; the standard library speaks HTTP/1.1 only"


def split_url(url):
    """(scheme, host, port, request target, Host header) of an http:// or https:// URL."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise StepError("protocol", "cannot GET %r: only http:// and https:// URLs" % url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise StepError("protocol", "bad port in %r: %s" % (url, error))
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    return parts.scheme, parts.hostname, port, target, parts.netloc.rpartition("@")[2]


def http_get(url, timeout_s):
    """A blocking GET with http.client, as `requests.get(url)` would do it."""
    scheme, host, port, target, _ = split_url(url)
    if scheme == "https":
        connection = http.client.HTTPSConnection(host, port, timeout=timeout_s)
    else:
        connection = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        try:
            connection.connect()
        except (socket.timeout, TimeoutError) as error:
            raise StepError("timeout", "connecting to %s:%s: %s" % (host, port, error))
        except OSError as error:
            raise StepError("connect", "%s:%s: %s" % (host, port, error))
        connection.request("GET", target, headers={"Connection": "close"})
        response = connection.getresponse()
        size = 0
        while True:
            chunk = response.read(65536)
            if not chunk:
                break
            size += len(chunk)
        return {"status": response.status, "bytes": size}
    except StepError:
        raise
    except (socket.timeout, TimeoutError) as error:
        raise StepError("timeout", "no answer within %s s: %s" % (timeout_s, error))
    except http.client.RemoteDisconnected as error:
        raise StepError("io", str(error))
    except http.client.IncompleteRead as error:
        raise StepError("io", "body cut short: %r" % error)
    except http.client.HTTPException as error:
        raise StepError("protocol", "%s: %s" % (type(error).__name__, error))
    except OSError as error:
        raise StepError("io", "%s: %s" % (type(error).__name__, error))
    finally:
        connection.close()


async def http_get_async(url, timeout_s):
    """A GET over asyncio streams: the event loop runs other coroutines while it waits."""
    try:
        return await asyncio.wait_for(_get_over_streams(url), timeout_s)
    except asyncio.TimeoutError:
        raise StepError("timeout", "no complete answer within %s s" % timeout_s)


async def _get_over_streams(url):
    scheme, host, port, target, host_header = split_url(url)
    tls = ssl.create_default_context() if scheme == "https" else None
    try:
        reader, writer = await asyncio.open_connection(host, port, ssl=tls)
    except OSError as error:
        raise StepError("connect", "%s:%s: %s" % (host, port, error))
    try:
        request = "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (target, host_header)
        writer.write(request.encode("ascii"))
        await writer.drain()
        status = _parse_status_line(await reader.readline())
        headers = {}
        while True:
            line = await reader.readline()
            if not line:
                raise StepError("io", "connection closed inside the headers")
            if line in (b"\r\n", b"\n"):
                break
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon:
                raise StepError("protocol", "bad header line %r" % line[:80])
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            size = await _read_chunked(reader)
        elif "content-length" in headers:
            try:
                size = await _read_counted(reader, int(headers["content-length"]))
            except ValueError:
                raise StepError("protocol", "bad Content-Length %r" % headers["content-length"])
        else:
            size = await _read_counted(reader, None)  # to the end of the connection
        return {"status": status, "bytes": size}
    except StepError:
        raise
    except (asyncio.IncompleteReadError, ConnectionError) as error:
        raise StepError("io", "%s: %s" % (type(error).__name__, error))
    except ValueError as error:  # a line longer than the stream's limit, a bad chunk size
        raise StepError("protocol", "%s: %s" % (type(error).__name__, error))
    except OSError as error:
        raise StepError("io", "%s: %s" % (type(error).__name__, error))
    finally:
        writer.close()


def _parse_status_line(line):
    if not line:
        raise StepError("io", "connection closed before the status line")
    fields = line.split(None, 2)
    if len(fields) < 2 or not fields[0].startswith(b"HTTP/") or not fields[1].isdigit():
        raise StepError("protocol", "bad status line %r" % line[:80])
    return int(fields[1])


async def _read_counted(reader, length):
    """Reads `length` bytes (None: until EOF) and returns how many came, keeping none."""
    size = 0
    while length is None or size < length:
        want = 65536 if length is None else min(65536, length - size)
        chunk = await reader.read(want)
        if not chunk:
            if length is None:
                break
            raise StepError("io", "body cut short: %d of %d bytes" % (size, length))
        size += len(chunk)
    return size


async def _read_chunked(reader):
    size = 0
    while True:
        line = await reader.readline()
        if not line:
            raise StepError("io", "connection closed inside a chunked body")
        chunk = int(line.split(b";")[0].strip(), 16)
        if chunk == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return size
        size += await _read_counted(reader, chunk)
        await reader.readexactly(2)  # the CRLF after each chunk


class Box:
    """A value the threads (or coroutines) of this process share; like Manager().Value."""

    def __init__(self, value=0):
        self.value = value


class Counter:
    """The counter `counter` steps race on: where its value lives, its lock, the sync mode."""

    def __init__(self, cell, lock, sync):
        self.cell = cell  # a Box, or a Manager().Value proxy in another process
        self.lock = lock  # threading.Lock, asyncio.Lock or Manager().Lock()
        self.sync = sync  # "none", "mutex" or "atomic"


def counter_step(counter, wait_s, increments=1):
    """Read, wait, write read + 1, `increments` times: the lost-update race, and its two
    cures. A wait of zero calls nothing between the read and the write, so only the loop's
    own turn lets another thread in: what the GIL keeps whole and a free-threaded build
    does not."""
    cell, lock, sync = counter.cell, counter.lock, counter.sync
    for _ in range(increments):
        if sync == "atomic":
            with lock:  # one locked increment, nothing to wait for inside
                cell.value += 1
        elif sync == "mutex":
            with lock:  # held across read, wait and write: correct, and serial
                read = cell.value
                if wait_s:
                    time.sleep(wait_s)
                cell.value = read + 1
        else:
            read = cell.value
            if wait_s:
                time.sleep(wait_s)  # meanwhile another task reads the same value...
            cell.value = read + 1  # ...and one of the two updates is lost


async def counter_step_async(counter, wait_s, blocking, increments=1):
    """The same race on one event loop: only an `await` lets another coroutine in."""
    for _ in range(increments):
        await counter_update_async(counter, wait_s, blocking)


async def counter_update_async(counter, wait_s, blocking):

    async def wait():
        if blocking:
            time.sleep(wait_s)  # blocks the loop: no other coroutine can run meanwhile
        else:
            await asyncio.sleep(wait_s)

    if counter.sync == "atomic":
        async with counter.lock:  # (a bare `+= 1` with no await would be atomic too)
            counter.cell.value += 1
    elif counter.sync == "mutex":
        async with counter.lock:
            read = counter.cell.value
            await wait()
            counter.cell.value = read + 1
    else:
        read = counter.cell.value
        await wait()
        counter.cell.value = read + 1


def run_step(step, counter):
    """One step with blocking calls: for the loop, threads, pools and to_thread."""
    kind = step["kind"]
    if kind == "hash":
        return {"digest": hash_chain(step["input"], step["iterations"])}
    if kind == "sleep":
        time.sleep(step["seconds"])
        return {}
    if kind == "http":
        if step.get("http2"):
            raise StepError("protocol", HTTP2_DETAIL)
        return http_get(step["url"], step["timeout_s"])
    if kind == "counter":
        counter_step(counter, step["wait_s"], step.get("increments", 1))
        return {}
    raise StepError("unsupported", "unknown step kind %r" % kind)


async def run_step_async(step, counter, blocking):
    """One step as a coroutine. `blocking`: its waits are blocking calls (the mistake)."""
    kind = step["kind"]
    if kind == "hash":
        # CPU work has nothing to await: it holds the event loop until it is done.
        return {"digest": hash_chain(step["input"], step["iterations"])}
    if kind == "sleep":
        if blocking:
            time.sleep(step["seconds"])
        else:
            await asyncio.sleep(step["seconds"])
        return {}
    if kind == "http":
        if step.get("http2"):
            raise StepError("protocol", HTTP2_DETAIL)
        if blocking:
            return http_get(step["url"], step["timeout_s"])
        return await http_get_async(step["url"], step["timeout_s"])
    if kind == "counter":
        await counter_step_async(counter, step["wait_s"], blocking, step.get("increments", 1))
        return {}
    raise StepError("unsupported", "unknown step kind %r" % kind)


# ---------------------------------------------------------------- tasks

SKIPPED = {"error": "skipped", "detail": "an earlier step of this task failed"}


def failure(error):
    """The result of a step that raised: never a crash of the program."""
    if isinstance(error, StepError):
        return {"error": error.kind, "detail": error.detail}
    return {"error": "exception", "detail": "%s: %s" % (type(error).__name__, error)}


def run_steps(steps, run_one):
    """(ok, one result per step). The first failure ends the task; later steps are skipped."""
    results = []
    for step in steps:
        if results and "error" in results[-1]:
            results.append(SKIPPED)
            continue
        try:
            results.append(run_one(step))
        except Exception as error:
            results.append(failure(error))
    return not any("error" in r for r in results), results


async def run_steps_async(steps, run_one):
    """run_steps for coroutines: `run_one(step)` is awaited."""
    results = []
    for step in steps:
        if results and "error" in results[-1]:
            results.append(SKIPPED)
            continue
        try:
            results.append(await run_one(step))
        except Exception as error:
            results.append(failure(error))
    return not any("error" in r for r in results), results


def task_line(task, lane, start_ns, end_ns, ok, results):
    return {"task": task["task"], "lane": lane, "start_ns": start_ns, "end_ns": end_ns,
            "ok": ok, "steps": results}


def run_task(task, counter, lane):
    """Runs one task on the calling thread and returns its task line."""
    start = time.monotonic_ns()
    ok, results = run_steps(task["steps"], lambda step: run_step(step, counter))
    return task_line(task, lane, start, time.monotonic_ns(), ok, results)


# ---------------------------------------------------------------- the models

def cpython_sequential(run):
    counter = Counter(Box(), threading.Lock(), run.sync)
    for task in run.tasks:
        send(run_task(task, counter, 0))
    return counter.cell.value


def cpython_threads(run):
    counter = Counter(Box(), threading.Lock(), run.sync)

    def work(task, lane):
        send(run_task(task, counter, lane))

    threads = [threading.Thread(target=work, args=(task, lane))
               for lane, task in enumerate(run.tasks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return counter.cell.value


def cpython_thread_pool(run):
    counter = Counter(Box(), threading.Lock(), run.sync)
    lanes = Lanes()

    def work(task):
        send(run_task(task, counter, lanes.current()))

    with concurrent.futures.ThreadPoolExecutor(max_workers=run.workers) as pool:
        futures = [pool.submit(work, task) for task in run.tasks]
        for future in concurrent.futures.as_completed(futures):
            future.result()
    return counter.cell.value


def process_pool_task(task, cell, lock, sync):
    """Runs in a pool process: the spans are read there; the parent maps the pid to a lane."""
    return os.getpid(), run_task(task, Counter(cell, lock, sync), None)


def cpython_process_pool(run):
    context = process_context()
    submit_target, cleanup = importable(process_pool_task, context)
    manager = cell = lock = None
    if run.has_counter:
        manager = context.Manager()  # a server process holding the value and the lock
        cell, lock = manager.Value("i", 0), manager.Lock()
    lanes = {}  # pid -> lane, in the order the workers first report
    try:
        with concurrent.futures.ProcessPoolExecutor(max_workers=run.workers,
                                                    mp_context=context) as pool:
            futures = {pool.submit(submit_target, task, cell, lock, run.sync): task
                       for task in run.tasks}
            for future in concurrent.futures.as_completed(futures):
                try:
                    pid, line = future.result()
                    line["lane"] = lanes.setdefault(pid, len(lanes))
                except Exception as error:  # a worker died (BrokenProcessPool): task failed
                    task, now = futures[future], time.monotonic_ns()
                    results = [failure(error)] + [SKIPPED] * (len(task["steps"]) - 1)
                    line = task_line(task, 0, now, now, False, results)
                send(line)
        return cell.value if cell is not None else None
    finally:
        if manager is not None:
            manager.shutdown()
        cleanup()


def process_context():
    """The multiprocessing context of the process pool.

    Linux: 'fork' (the lecture's default there; children inherit this program, however
    it was started). Elsewhere: the platform's default, 'spawn' on Windows and macOS; a
    spawned child imports the program's functions, which `importable` makes possible.
    CONCLAB_CPYTHON_START_METHOD overrides the choice (the tests use it)."""
    method = os.environ.get("CONCLAB_CPYTHON_START_METHOD")
    if not method and sys.platform.startswith("linux"):
        method = "fork"
    return multiprocessing.get_context(method or None)


def importable(function, context):
    """`function`, in a form a child started by `context` can unpickle, and a cleanup.

    Forked children have the parent's memory. Spawned children import what they run by
    module name: as `python3 file.py` this program is importable (`__mp_main__`), but as
    `python3 -c text` it is not, so the text is written to a temporary module first."""
    main = sys.modules["__main__"]
    if context.get_start_method() == "fork" or getattr(main, "__file__", None):
        return function, lambda: None
    source = _command_text()
    if source is None:
        raise RuntimeError("started with -c and no fork: cannot find this program's text "
                           "for the spawned workers (Python < 3.10); run it as a file")
    import importlib
    import shutil
    import tempfile
    folder = tempfile.mkdtemp(prefix="conclab-cpython-")
    name = "conclab_cpython_worker"
    with open(os.path.join(folder, name + ".py"), "w", encoding="utf-8") as f:
        f.write(source)
    sys.path.insert(0, folder)  # spawned children get the parent's sys.path
    module = importlib.import_module(name)

    def cleanup():
        sys.path.remove(folder)
        shutil.rmtree(folder, ignore_errors=True)

    return getattr(module, function.__name__), cleanup


def _command_text():
    """The program text after `-c`: from sys.orig_argv (3.10+) or Linux's /proc."""
    argv = getattr(sys, "orig_argv", None)
    if argv is None and os.path.exists("/proc/self/cmdline"):
        with open("/proc/self/cmdline", "rb") as f:
            argv = [a.decode("utf-8", "surrogateescape") for a in f.read().split(b"\0")]
    argv = argv or []
    if "-c" in argv[:-1]:
        return argv[argv.index("-c") + 1]
    return None


async def _gather_with_limit(run, one_task):
    """At most W tasks in flight (a Semaphore), all of them gathered."""
    in_flight = asyncio.Semaphore(run.workers)

    async def limited(task):
        async with in_flight:
            await one_task(task)

    await asyncio.gather(*(limited(task) for task in run.tasks))


def _asyncio_model(run, blocking):
    async def main():
        counter = Counter(Box(), asyncio.Lock(), run.sync)  # made on the running loop (3.8, 3.9)

        async def one_task(task):
            start = time.monotonic_ns()
            ok, results = await run_steps_async(
                task["steps"], lambda step: run_step_async(step, counter, blocking))
            send(task_line(task, 0, start, time.monotonic_ns(), ok, results))

        await _gather_with_limit(run, one_task)
        return counter.cell.value

    return asyncio.run(main())


def cpython_asyncio(run):
    return _asyncio_model(run, blocking=False)


def cpython_asyncio_blocking(run):
    return _asyncio_model(run, blocking=True)


if hasattr(asyncio, "to_thread"):  # 3.9+
    to_thread = asyncio.to_thread
else:
    async def to_thread(function, *args):
        return await asyncio.get_running_loop().run_in_executor(None, function, *args)


def cpython_to_thread(run):
    counter = Counter(Box(), threading.Lock(), run.sync)  # the steps run on pool threads
    lanes = Lanes()

    def on_a_thread(step, seen):
        seen.append(lanes.current())  # which pool thread took the step
        return run_step(step, counter)

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_default_executor(concurrent.futures.ThreadPoolExecutor(max_workers=run.workers))

        async def one_task(task):
            seen = []
            start = time.monotonic_ns()
            ok, results = await run_steps_async(
                task["steps"], lambda step: to_thread(on_a_thread, step, seen))
            send(task_line(task, seen[0] if seen else 0, start, time.monotonic_ns(), ok, results))

        await _gather_with_limit(run, one_task)

    asyncio.run(main())
    return counter.cell.value


MODELS = {
    "cpython_sequential": cpython_sequential,
    "cpython_threads": cpython_threads,
    "cpython_thread_pool": cpython_thread_pool,
    "cpython_process_pool": cpython_process_pool,
    "cpython_asyncio": cpython_asyncio,
    "cpython_asyncio_blocking": cpython_asyncio_blocking,
    "cpython_to_thread": cpython_to_thread,
}


# ---------------------------------------------------------------- one repetition

class Run:
    """The run line: which model, how many workers, the tasks, the counter's sync mode."""

    def __init__(self, message):
        self.model = message["model"]
        self.workers = max(1, int(message.get("workers") or 1))
        self.tasks = message["tasks"]
        self.has_counter = message.get("counter") is not None or any(
            step["kind"] == "counter" for task in self.tasks for step in task["steps"])
        self.sync = (message.get("counter") or {}).get("sync", "none")


def cpu_and_memory():
    """(user s, system s, peak RSS KiB) of this process plus its waited-for children."""
    if resource is None:
        t = os.times()
        return t.user + t.children_user, t.system + t.children_system, 0
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    per_kib = 1024 if sys.platform == "darwin" else 1  # macOS counts bytes
    return (me.ru_utime + children.ru_utime, me.ru_stime + children.ru_stime,
            max(me.ru_maxrss, children.ru_maxrss) // per_kib)


def main():
    send({"ready": True, "implementation": implementation()})
    line = sys.stdin.readline()
    if not line.strip():
        sys.stderr.write("conclab_cpython: no run line on stdin\n")
        return 2
    try:
        run = Run(json.loads(line))
    except (ValueError, KeyError, TypeError) as error:
        sys.stderr.write("conclab_cpython: bad run line (%s): %.200s\n" % (error, line))
        return 2
    model = MODELS.get(run.model)
    if model is None:
        sys.stderr.write("conclab_cpython: unknown model %r; known: %s\n"
                         % (run.model, ", ".join(MODELS)))
        return 2
    user0, sys0, _ = cpu_and_memory()
    final = model(run)  # every worker thread and process is joined when it returns
    user1, sys1, rss = cpu_and_memory()
    done = {"done": True}
    if run.has_counter:
        done["counter"] = final
    done.update(user_s=round(user1 - user0, 6), sys_s=round(sys1 - sys0, 6), max_rss_kib=rss)
    send(done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
