"""Placeholder for the built-in cpython_* models of conclab.

The real program (issue 11) replaces this file. It speaks the external-model protocol
(docs/external-models.md) just enough to test conclab's side: it says it is ready, reads
the run line, and answers every task as failed.
"""

import json
import sys
import time


def main():
    print(json.dumps({"ready": True, "implementation": "placeholder"}), flush=True)
    run = json.loads(sys.stdin.readline())
    for task in run["tasks"]:
        now = time.monotonic_ns()
        steps = [{"error": "not_implemented", "detail": "placeholder"} for _ in task["steps"]]
        line = {"task": task["task"], "lane": 0, "start_ns": now, "end_ns": now,
                "ok": False, "steps": steps}
        print(json.dumps(line), flush=True)
    done = {"done": True}
    if "counter" in run:
        done["counter"] = 0
    print(json.dumps(done), flush=True)


if __name__ == "__main__":
    main()
