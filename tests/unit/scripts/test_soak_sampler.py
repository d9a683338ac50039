"""scripts/soak_sampler.py: samples real processes from /proc and summarises a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.unit.scripts import load_script


def _module():
    return load_script("soak_sampler")


def test_a_sample_finds_a_running_process_of_a_kind_and_its_memory(tmp_path, monkeypatch):
    mod = _module()
    # a process whose command line matches the "redis" kind, with memory of its own
    monkeypatch.setitem(mod.KINDS, "redis", "soak-sampler-test-sleeper")
    code = "import time; b = bytearray(64 * 2**20); time.sleep(30)  # soak-sampler-test-sleeper"
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        for _ in range(50):  # until the 64 MB are resident
            s = mod.sample(tmp_path)
            if s["redis"][0] >= 64:
                break
            subprocess.run(["sleep", "0.1"], check=True)
    finally:
        proc.kill()
        proc.wait()
    rss, cpu, count, anon, shmem = s["redis"]
    assert count == 1 and rss >= 64 and cpu >= 0
    assert anon >= 64 and shmem < 64  # a bytearray is private memory
    assert s["broker_data_mb"] is None  # no broker data under this state directory


def test_shared_memory_pages_are_told_apart_from_private_ones(tmp_path, monkeypatch):
    """As Triton's Python backend holds its tensors: a mapped, touched /dev/shm file."""
    mod = _module()
    monkeypatch.setitem(mod.KINDS, "redis", "soak-sampler-test-shm")
    region = Path("/dev/shm") / f"itscam-soak-sampler-test-{os.getpid()}"
    code = (
        "import mmap, sys, time\n"
        "f = open(sys.argv[1], 'w+b'); f.truncate(48 * 2**20)\n"
        "m = mmap.mmap(f.fileno(), 48 * 2**20); m.write(b'x' * (48 * 2**20))\n"
        "print('ready', flush=True); time.sleep(30)  # soak-sampler-test-shm\n"
    )
    before = mod.sample(tmp_path)["dev_shm_mb"]
    proc = subprocess.Popen([sys.executable, "-c", code, str(region)], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        s = mod.sample(tmp_path)
    finally:
        proc.kill()
        proc.wait()
        region.unlink(missing_ok=True)
    rss, _, count, anon, shmem = s["redis"]
    assert count == 1 and shmem >= 48 and rss >= shmem and anon < 48
    assert s["dev_shm_mb"] >= before + 48


def test_the_summary_reports_first_peak_last_memory_and_cores(tmp_path):
    mod = _module()
    rows = [
        {"t": 0.0, "worker": [200, 10.0, 1], "broker_data_mb": 5.0},
        {"t": 30.0, "worker": [230, 25.0, 1], "broker_data_mb": 9.0},
        {"t": 60.0, "worker": [225, 40.0, 1], "broker_data_mb": 7.0},
    ]
    path = tmp_path / "soak.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = mod.summarise(path)
    assert out["samples"] == 3 and out["seconds"] == 60.0
    assert out["worker"] == {
        "rss_mb_first": 200,
        "rss_mb_max": 230,
        "rss_mb_last": 225,
        "cores": 0.5,
    }
    assert out["broker_data_mb"] == {"first": 5.0, "last": 7.0}
    assert "triton" not in out  # never seen: not reported


def test_the_summary_reports_private_memory_where_samples_split_it(tmp_path):
    mod = _module()
    rows = [
        {"t": 0.0, "triton": [600, 1.0, 1, 300, 300], "dev_shm_mb": 250.0},
        {"t": 30.0, "triton": [1300, 9.0, 1, 310, 990], "dev_shm_mb": 900.0},
        {"t": 60.0, "triton": [1290, 17.0, 1, 305, 985], "dev_shm_mb": 900.0},
    ]
    path = tmp_path / "soak.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = mod.summarise(path)
    assert out["triton"]["rss_mb_max"] == 1300
    assert (out["triton"]["anon_mb_first"], out["triton"]["anon_mb_max"]) == (300, 310)
    assert out["triton"]["anon_mb_last"] == 305
    assert out["dev_shm_mb"] == {"first": 250.0, "last": 900.0}
