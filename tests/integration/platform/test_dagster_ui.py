"""`dagster dev` on the repository's dagster.yaml: the UI renders the asset graph; GraphQL lists assets and checks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
QUERY = """{ assetNodes { assetKey { path } groupName
             assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } }"""


def _get(url: str, data: bytes | None = None, timeout: float = 10.0) -> bytes:
    req = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"} if data else {}
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.read()


@pytest.fixture()
def dagster_ui(platform_services, tmp_path):
    from its_platform.dev import dagster_env

    env = dagster_env(
        platform_services, base=dict(os.environ) | {"DAGSTER_HOME": str(tmp_path / "dagster_home")}
    )
    port = platform_services.dagster_port
    log = (tmp_path / "dagster.log").open("wb")
    # Own process group (what `set -m` gives a shell job), so SIGTERM reaches webserver and daemon.
    proc = subprocess.Popen(
        [sys.executable, "-m", "its_platform.dev", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, (tmp_path / "dagster.log").read_text()[-3000:]
            try:
                nodes = json.loads(_get(f"{base}/graphql", json.dumps({"query": QUERY}).encode()))
                if nodes.get("data", {}).get("assetNodes"):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, (
                "dagster dev did not load the code location in 240 s"
            )
            time.sleep(2)
        yield base, nodes["data"]["assetNodes"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_graphql_lists_every_asset_and_check(dagster_ui) -> None:
    from its_platform.definitions import defs

    _, nodes = dagster_ui
    served = {"/".join(n["assetKey"]["path"]): n for n in nodes}
    wanted = {s.key.to_user_string(): s.group_name for s in defs.resolve_all_asset_specs()}
    assert {k: n["groupName"] for k, n in served.items()} == wanted
    served_checks = {
        (k, c["name"]) for k, n in served.items() for c in n["assetChecksOrError"]["checks"]
    }
    wanted_checks = {
        (k.asset_key.to_user_string(), k.name) for k in defs.resolve_asset_graph().asset_check_keys
    }
    assert served_checks == wanted_checks


def test_headless_chromium_renders_the_asset_graph(dagster_ui, platform_services, tmp_path) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed (make system installs it)")
    import cv2
    import numpy as np

    base, _ = dagster_ui
    shot = tmp_path / "asset-graph.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            f"--user-data-dir={tempfile.mkdtemp()}",
            f"--screenshot={shot}",
            "--window-size=1400,900",
            "--virtual-time-budget=15000",
            f"{base}/asset-groups",
        ],
        check=True,
        timeout=120,
        capture_output=True,
    )
    # Kept for people to look at (the state directory is git-ignored).
    shutil.copy2(shot, Path(platform_services.state_dir) / "dagster_asset_graph.png")
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (900, 1400)
    colours = np.unique(image.reshape(-1, 3), axis=0)
    assert len(colours) > 200, "the screenshot is (nearly) blank"
    assert shot.stat().st_size > 30_000
    # The sidebar and graph show the groups by name; their text is in the served page's data.
    groups = {n["groupName"] for n in dagster_ui[1]}
    assert groups == {"ingest", "traffic", "retention", "cost", "models"}
