"""Memory and CPU of the local pipeline's processes over a long run, one JSON line per sample.

For soak runs (``itscam evaluate --scenario arterial --duration 3600`` and the
like): every ``--every`` seconds it reads ``/proc`` and writes, per kind of
process (stream worker, broker, PostgreSQL, Triton server and its Python
backend stubs, Redis, InfluxDB, the evaluate command itself), the summed
resident memory in MB, the summed CPU seconds so far, the process count, and
the resident memory split into private (anonymous) and shared-memory pages;
plus the sizes of the broker's and PostgreSQL's data directories and of the
files in ``/dev/shm``. A leak shows as private memory that keeps rising after
the first minutes. Shared-memory pages are not a leak of their own: Triton's
Python backend moves tensors through ``/dev/shm`` regions that grow to the
largest batch seen and stay mapped, and every process that touched a page
counts it in its resident size (so sums over processes count it more than
once; ``dev_shm_mb`` counts it once). CPU seconds differenced between samples
give cores used. Linux only; reads nothing but
``/proc`` and the state directory, so it can run beside anything.

usage: .venv/bin/python scripts/soak_sampler.py OUT.jsonl [--every S] [--samples N]
       (then, e.g.: itscam evaluate --scenario arterial --duration 3600 --fps 5)
Summary of a finished file: .venv/bin/python scripts/soak_sampler.py OUT.jsonl --summary
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

#: Kind of process -> a substring of its command line (the first that matches wins).
KINDS = {
    "worker": "streaming worker",
    "evaluate": "itscam evaluate",
    "broker": "noida-db",
    "postgres": "postgres:",
    "triton": "tritonserver",
    "triton_stub": "backend_stub",
    "redis": "redis-server",
    "influxdb": "influxd",
}


def _dir_mb(path: Path) -> float | None:
    if not path.exists():
        return None
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += (Path(root) / f).stat().st_size
            except OSError:  # a file removed while walking
                continue
    return round(total / 2**20, 1)


def _dev_shm_mb(root: Path = Path("/dev/shm")) -> float | None:
    """Memory held by the files in /dev/shm (allocated blocks, not apparent sizes)."""
    if not root.is_dir():
        return None
    total = 0
    for f in root.iterdir():
        try:
            total += f.stat().st_blocks * 512
        except OSError:  # removed meanwhile
            continue
    return round(total / 2**20, 1)


def _rss_split_kb(pid: str) -> tuple[int, int]:
    """(RssAnon, RssShmem) of a process in kB from /proc/PID/status; (0, 0) if unreadable."""
    anon = shmem = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                anon = int(line.split()[1])
            elif line.startswith("RssShmem:"):
                shmem = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return anon, shmem


def sample(state_dir: Path) -> dict:
    """One sample: {kind: [rss_mb, cpu_s, processes, anon_mb, shmem_mb]} and data sizes."""
    tick = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    agg = {k: [0.0, 0.0, 0, 0.0, 0.0] for k in KINDS}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = (
                Path(f"/proc/{pid}/cmdline")
                .read_bytes()
                .replace(b"\0", b" ")
                .decode(errors="replace")
            )
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        for kind, pattern in KINDS.items():
            if pattern in cmd:
                a = agg[kind]
                a[0] += int(fields[21]) * page / 2**20  # rss (pages)
                a[1] += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
                a[2] += 1
                anon_kb, shmem_kb = _rss_split_kb(pid)
                a[3] += anon_kb / 1024
                a[4] += shmem_kb / 1024
                break
    return {
        "t": round(time.time(), 1),
        **{
            k: [round(v[0]), round(v[1], 1), v[2], round(v[3]), round(v[4])] for k, v in agg.items()
        },
        "broker_data_mb": _dir_mb(state_dir / "kafka"),
        "postgres_data_mb": _dir_mb(state_dir / "postgres"),
        "dev_shm_mb": _dev_shm_mb(),
    }


def summarise(path: Path) -> dict:
    """First, peak and last resident (and private) MB per kind, and cores used over the file.

    Files written before samples carried the private/shared split (three
    numbers per kind) summarise without the ``anon_mb_*`` keys.
    """
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if len(rows) < 2:
        raise SystemExit(f"{path}: fewer than two samples")
    secs = rows[-1]["t"] - rows[0]["t"]
    out: dict = {"samples": len(rows), "seconds": round(secs, 1)}
    for kind in KINDS:
        rss = [r[kind][0] for r in rows if r.get(kind) and r[kind][2]]
        if not rss:
            continue
        cpu = [r[kind][1] for r in rows if r.get(kind) and r[kind][2]]
        out[kind] = {
            "rss_mb_first": rss[0],
            "rss_mb_max": max(rss),
            "rss_mb_last": rss[-1],
            "cores": round(max(0.0, cpu[-1] - cpu[0]) / secs, 3) if secs else None,
        }
        anon = [r[kind][3] for r in rows if r.get(kind) and r[kind][2] and len(r[kind]) > 3]
        if anon:
            out[kind].update(anon_mb_first=anon[0], anon_mb_max=max(anon), anon_mb_last=anon[-1])
    for key in ("broker_data_mb", "postgres_data_mb", "dev_shm_mb"):
        vals = [r[key] for r in rows if r.get(key) is not None]
        if vals:
            out[key] = {"first": vals[0], "last": vals[-1]}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="JSON lines file (appended to)")
    p.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    p.add_argument("--samples", type=int, default=0, help="stop after N samples (0 = never)")
    p.add_argument("--summary", action="store_true", help="summarise OUT and exit")
    args = p.parse_args(argv)
    if args.summary:
        print(json.dumps(summarise(args.out)))
        return 0
    if args.every <= 0:
        p.error("--every must be positive")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from itscam.settings import get_settings

    state_dir = Path(get_settings().state_dir)
    n = 0
    with args.out.open("a") as fh:
        while True:
            fh.write(json.dumps(sample(state_dir)) + "\n")
            fh.flush()
            n += 1
            if args.samples and n >= args.samples:
                return 0
            time.sleep(args.every)


if __name__ == "__main__":
    raise SystemExit(main())
