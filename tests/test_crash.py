"""The crash test: a real server (or replicas on PostgreSQL) SIGKILLed at seeded random
points keeps every promise.

The harness and the invariants are in tests/crash.py; scripts/crash_test.py
is the long version. A failure prints the seed: replay it with
``HIVE_CRASH_SEED=N python -m pytest tests/test_crash.py``.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from tests import pg
from tests.crash import SEED_ENV, CrashConfig, crash_test
from tests.pg import PgServer

pytestmark = pytest.mark.anyio
DEFAULT_SEED = 20261201
SUITE = CrashConfig(executions=24, kills=10, time_limit=300)
REPLICAS = CrashConfig(executions=16, kills=6, time_limit=300)


@pytest.mark.timeout(720)  # two runs of the mix, each bounded by SUITE.time_limit
async def test_a_server_killed_at_random_points_keeps_every_promise_to_every_execution(
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get(SEED_ENV, DEFAULT_SEED))
    print(f"crash test seed {seed} (replay: {SEED_ENV}={seed})")
    report = await crash_test(dataclasses.replace(SUITE, seed=seed), tmp_path)
    print(report.describe())
    assert report.kills == SUITE.kills, report.describe()
    assert not report.reference_anomalies and not report.anomalies, report.describe()


@pytest.mark.timeout(720)
async def test_replicas_killed_at_random_points_hand_their_executions_over_and_keep_every_promise(
    tmp_path: Path, pg_server: PgServer
) -> None:
    seed = int(os.environ.get(SEED_ENV, DEFAULT_SEED))
    print(f"replica crash test seed {seed} (replay: {SEED_ENV}={seed})")
    with pg.fresh_database(pg_server) as reference, pg.fresh_database(pg_server) as crashed:
        config = dataclasses.replace(REPLICAS, seed=seed, stores=(reference, crashed))
        report = await crash_test(config, tmp_path)
    print(report.describe())
    assert report.kills == REPLICAS.kills, report.describe()
    assert not report.reference_anomalies and not report.anomalies, report.describe()
