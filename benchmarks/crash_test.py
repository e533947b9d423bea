"""The long crash test: rounds of the suite's crash test, hundreds of executions and kills.

Run: python benchmarks/crash_test.py [--rounds 10] [--executions 60] [--kills 20]
     [--seed N] [--max-concurrent 3] [--keep DIR]

Each round is tests/crash.py's crash test with its own seed (the first is
--seed, or HIVE_CRASH_SEED, or a random one; then +1 per round): the mix runs
once without kills for the reference outputs, then against a real
``hive-mcp serve --http`` SIGKILLed ``--kills`` times at random points, and
every execution is checked (terminal, same output as without kills, gap-free
log starting with execution_started, no recorded side effect run again). It
prints one row per round and the totals, then every anomaly with the seed
that replays it, and exits 1 if there was any. Server logs, stores and
ledgers are kept under --keep (default: a temporary folder, removed).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import anyio
from _table import print_table  # the sibling module; scripts run from this folder

REPO = Path(__file__).resolve().parent.parent


async def run(args: argparse.Namespace, workdir: Path) -> int:
    sys.path.insert(0, str(REPO))  # the harness lives with the tests
    from tests.crash import INVARIANTS, SEED_ENV, CrashConfig, CrashReport, crash_test

    first = args.seed
    if first is None:
        first = int(os.environ.get(SEED_ENV) or random.randrange(1, 10**6))
    headers = ["round", "seed", "executions", "kills", "completed", *INVARIANTS, "wall s"]
    rows: list[list[str]] = []
    reports: list[CrashReport] = []
    began = time.monotonic()
    for number in range(args.rounds):
        config = CrashConfig(
            executions=args.executions,
            kills=args.kills,
            seed=first + number,
            max_concurrent=args.max_concurrent,
            time_limit=args.time_limit,
        )
        report = await crash_test(config, workdir / f"round-{number}")
        reports.append(report)
        counts = report.counts()
        rows.append(
            [
                str(number + 1),
                str(report.seed),
                str(report.executions),
                str(report.kills),
                str(report.completed),
                *(str(counts[name]) for name in INVARIANTS),
                f"{report.wall_seconds:.0f}",
            ]
        )
        print(report.describe(limit=0).splitlines()[0], file=sys.stderr, flush=True)
    total = {name: sum(r.counts()[name] for r in reports) for name in INVARIANTS}
    rows.append(
        [
            "all",
            f"{first}..{first + args.rounds - 1}",
            str(sum(r.executions for r in reports)),
            str(sum(r.kills for r in reports)),
            str(sum(r.completed for r in reports)),
            *(str(total[name]) for name in INVARIANTS),
            f"{time.monotonic() - began:.0f}",
        ]
    )
    print_table(headers, rows)
    kinds: dict[str, int] = {}
    for r in reports:
        for kind, n in r.kill_kinds.items():
            kinds[kind] = kinds.get(kind, 0) + n
    print("\nkill points: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    print(f"server processes: {sum(r.generations for r in reports)}, ", end="")
    print(f"answers sent: {sum(r.answers for r in reports)}, ", end="")
    reruns = sum(r.reruns for r in reports)
    print(f"repeated side-effect runs (a kill before the result was recorded): {reruns}")
    bad = [r for r in reports if r.anomalies or r.reference_anomalies]
    for r in bad:
        print("\n" + r.describe())
    return 1 if bad else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--executions", type=int, default=60)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max-concurrent", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=600.0, help="per run of the mix, s")
    parser.add_argument("--keep", type=Path, default=None, help="keep logs and stores here")
    args = parser.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        sys.exit(anyio.run(run, args, args.keep))
    with tempfile.TemporaryDirectory(prefix="hive-crash-") as tmp:
        sys.exit(anyio.run(run, args, Path(tmp)))


if __name__ == "__main__":
    main()
