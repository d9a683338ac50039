"""Start ``dagster dev`` on the local profile with the repository's dagster.yaml.

``python -m its_platform.dev [--host H] [--port P]``: links ``dagster.yaml``
from the repository root into ``$DAGSTER_HOME`` (default
``<state_dir>/dagster_home``), fills the ``DAGSTER_PG_*`` variables the file
reads from the project settings where they are unset, and replaces itself
with ``dagster dev -w workspace.yaml`` (webserver and daemon).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from itscam.settings import REPO_ROOT, Settings, get_settings


def dagster_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment ``dagster`` needs: DAGSTER_HOME prepared, DAGSTER_PG_* filled in."""
    env = dict(os.environ if base is None else base)
    home = Path(env.get("DAGSTER_HOME") or settings.state_dir / "dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    link = home / "dagster.yaml"
    target = REPO_ROOT / "dagster.yaml"
    if (link.is_symlink() or link.exists()) and not (
        link.is_symlink() and link.resolve() == target.resolve()
    ):
        link.unlink()
    if not link.exists():
        link.symlink_to(target)
    info = conninfo_to_dict(settings.pg_dsn)
    defaults = {
        "DAGSTER_PG_HOST": str(info.get("host", "127.0.0.1")),
        "DAGSTER_PG_PORT": str(info.get("port", settings.postgres_port)),
        "DAGSTER_PG_USER": str(info.get("user", settings.postgres_user)),
        "DAGSTER_PG_PASSWORD": str(info.get("password", "")),
        "DAGSTER_PG_DB": str(info.get("dbname", settings.postgres_db)),
    }
    for key, value in defaults.items():
        env.setdefault(key, value)
    env["DAGSTER_HOME"] = str(home)
    env.setdefault("GX_ANALYTICS_ENABLED", "false")
    return env


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="python -m its_platform.dev", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=settings.dagster_port)
    args = parser.parse_args(argv)
    env = dagster_env(settings)
    dagster = Path(sys.executable).with_name("dagster")
    cmd = [
        str(dagster),
        "dev",
        "-w",
        str(REPO_ROOT / "workspace.yaml"),
        "-h",
        args.host,
        "-p",
        str(args.port),
    ]
    # Run from DAGSTER_HOME: Dagster warns about a dagster.yaml in the working directory otherwise.
    os.chdir(env["DAGSTER_HOME"])
    os.execve(str(dagster), cmd, env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
