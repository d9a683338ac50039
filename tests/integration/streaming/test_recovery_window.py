"""Records of a never-committed partition survive a worker's table recovery (real broker, real Faust).

``streaming.consumer_fixes`` explains the defect: records fetched while the
recovery window leaves Faust's active-partition set empty are dropped, and a
partition the group never committed on is not rewound afterwards. A worker
(``recovery_window_app``) recovers a table whose recovery callback holds the
window open for 3 s while new records arrive in another partition; before it
starts, 50 records wait in partition 0 and 30 in partition 1, none ever
committed. With the fixes it consumes all of them and the 10 new ones; the control shows the same
worker without them losing them (so the test can fail, and a Faust upgrade
that fixes the defect shows up here).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from itscam.settings import Settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
WAITING = {0: 50, 1: 30}
WAKES = 10  # records sent into partition 3 inside the window
EXPECT = sum(WAITING.values()) + WAKES


def _seed(settings: Settings, run: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    from itscam.clients.kafka import start_producer

    servers = settings.kafka_servers

    async def go() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=servers)
        await admin.start()
        try:
            await admin.create_topics(
                [
                    NewTopic(f"recovery-window-{run}", 4, 1),
                    NewTopic(f"recovery-window-{run}-t-changelog", 4, 1),
                ]
            )
        finally:
            await admin.close()
        producer = await start_producer(settings)
        try:
            for partition, n in WAITING.items():
                for i in range(n):
                    await producer.send(
                        f"recovery-window-{run}", b"r%d" % i, key=b"k", partition=partition
                    )
            for partition in range(4):  # a changelog to recover
                for i in range(20):
                    await producer.send(
                        f"recovery-window-{run}-t-changelog",
                        json.dumps("v").encode(),
                        key=json.dumps(f"c{i}").encode(),
                        partition=partition,
                    )
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(go())


def _run_worker(
    settings: Settings, tmp_path: Path, *, fixes: bool, wait_s: float
) -> dict[str, int]:
    run = uuid.uuid4().hex[:8]
    _seed(settings, run)
    env = {
        **os.environ,
        "RUN": run,
        "BROKER": settings.kafka_servers.split(",")[0],
        "FIXES": "1" if fixes else "0",
        "EXPECT": str(EXPECT),
        "WAKES": str(WAKES),
        "SLOW_S": "3",
        "WAIT_S": str(wait_s),
        "DATADIR": str(tmp_path / "faust"),
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as fh:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.integration.streaming.recovery_window_app",
                "worker",
                "-l",
                "info",
            ],
            cwd=ROOT,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
    text = log.read_text(errors="replace")
    results = [line.split("RESULT ", 1)[1] for line in text.splitlines() if "RESULT " in line]
    assert results, f"the worker printed no RESULT; its log:\n{text[-3000:]}"
    assert "Done reading from changelog topics" in text, "the worker did not recover its table"
    return {k: int(v) for k, v in json.loads(results[-1]).items()}


def test_records_waiting_in_never_committed_partitions_survive_the_recovery_window(
    services: Settings, tmp_path: Path
) -> None:
    seen = _run_worker(services, tmp_path, fixes=True, wait_s=60)  # ends once all are in
    assert seen == {"0": 50, "1": 30, "3": WAKES}


def test_control_without_the_fixes_faust_loses_them(services: Settings, tmp_path: Path) -> None:
    seen = _run_worker(services, tmp_path, fixes=False, wait_s=15)
    assert sum(seen.values()) < EXPECT, (
        f"consumed {seen} without streaming.consumer_fixes: the upstream defect may be fixed "
        "(see the module's docstring) and the fixes may no longer be needed"
    )
