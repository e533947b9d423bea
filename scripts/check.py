"""Run every check CI runs: lint, format, types, tests. Exit non-zero if any fails.

Usage: python scripts/check.py [extra pytest arguments]
"""

from __future__ import annotations

import subprocess
import sys

CHECKS = [
    ["ruff", "check", "."],
    ["ruff", "format", "--check", "."],
    ["mypy"],
]


def main() -> int:
    failed = []
    for command in CHECKS:
        print(f"$ {' '.join(command)}", flush=True)
        if subprocess.call([sys.executable, "-m", *command]) != 0:
            failed.append(command[0])
    print("$ pytest", flush=True)
    tests = subprocess.call([sys.executable, "-m", "pytest", *sys.argv[1:]])
    if tests != 0:
        failed.append("pytest")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
