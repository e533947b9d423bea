"""Each step appends its name to the file at `log`, so a test can see re-runs."""

import os
import sys
import time


def _note(log, name):
    with open(log, "a") as f:
        f.write(name + "\n")


def start(log, n):
    _note(log, "start")
    return {"n1": n + 1}


def left(log, n1):
    _note(log, "left")
    return {"l": n1 * 2}


def right(log, n1):
    _note(log, "right")
    return {"r": n1 * 3}


def join(log, l, r):  # noqa: E741 - named after the memory key
    _note(log, "join")
    return {"total": l + r}


def hang(log, total):
    _note(log, "hang")
    if os.environ.get("HIVE_TEST_HANG") == "1":
        print("hang: waiting to be killed", file=sys.stderr, flush=True)
    while os.environ.get("HIVE_TEST_HANG") == "1":
        time.sleep(3600)  # killed by the test long before this returns
    return {"checked": total}


def finish(log, checked):
    _note(log, "finish")
    return {"answer": checked * 10}
