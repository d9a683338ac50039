"""scripts/soak_sampler.py: samples real processes from /proc and summarises a run."""

from __future__ import annotations

import json
import subprocess
import sys

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
    rss, cpu, count = s["redis"]
    assert count == 1 and rss >= 64 and cpu >= 0
    assert s["broker_data_mb"] is None  # no broker data under this state directory


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
