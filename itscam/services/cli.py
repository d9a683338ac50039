"""``itscam services up|down|status``."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from itscam.services.manager import ALL_SERVICES, ServiceManager
from itscam.settings import get_settings

console = Console()


def _parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog)
    p.add_argument(
        "names", nargs="*", help=f"services among {', '.join(ALL_SERVICES)} (default: all)"
    )
    return p


def _names(p: argparse.ArgumentParser, argv: list[str] | None) -> list[str] | None:
    names = p.parse_args(argv).names
    unknown = [n for n in names if n not in ALL_SERVICES]
    if unknown:
        p.error(f"unknown service(s) {unknown}; choose among {', '.join(ALL_SERVICES)}")
    return names or None


def up(argv: list[str] | None = None) -> int:
    names = _names(_parser("itscam services up"), argv)
    mgr = ServiceManager(get_settings())
    with console.status("starting services") as spinner:
        mgr.up(names, progress=lambda msg: spinner.update(msg))
    from itscam.db.migrate import migrate

    if not names or "postgres" in names:
        migrate(mgr.settings)
    _print_status(mgr)
    return 0


def down(argv: list[str] | None = None) -> int:
    names = _names(_parser("itscam services down"), argv)
    stopped = ServiceManager(get_settings()).down(names)
    console.print(f"stopped: {', '.join(stopped) if stopped else 'nothing was running'}")
    return 0


def status(argv: list[str] | None = None) -> int:
    _parser("itscam services status").parse_args(argv)
    _print_status(ServiceManager(get_settings()))
    return 0


def check(argv: list[str] | None = None) -> int:
    """Check that every configured endpoint (local or production) answers."""
    from itscam.services.manager import check_endpoints

    names = _names(_parser("itscam services check"), argv)
    for name, ok in check_endpoints(get_settings(), names).items():
        console.print(f"{name}: {'[green]reachable[/]' if ok else '[red]unreachable[/]'}")
    return 0


def _print_status(mgr: ServiceManager) -> None:
    table = Table(title=f"local services ({mgr.state})")
    for col in ("service", "state", "pid", "address", "log"):
        table.add_column(col)
    for st in mgr.status():
        state = (
            "[green]healthy[/]"
            if st.healthy
            else ("[yellow]starting/unhealthy[/]" if st.running else "stopped")
        )
        table.add_row(st.name, state, str(st.pid or "-"), f"127.0.0.1:{st.port}", str(st.log))
    console.print(table)
