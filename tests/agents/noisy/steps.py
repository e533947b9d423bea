"""A step that writes to stdout by print, sys.stdout and the raw descriptor from a thread."""

import os
import sys
import threading

print("NOISY import-time print")


def _raw() -> None:
    os.write(1, b"NOISY raw write from a thread\n")


def shout(text: str) -> dict[str, str]:
    print(f"NOISY print {text}")
    sys.stdout.write("NOISY sys.stdout.write no newline")
    worker = threading.Thread(target=_raw)
    worker.start()
    worker.join()
    return {"echo": text}
