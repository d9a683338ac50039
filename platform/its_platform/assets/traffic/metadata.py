"""Metadata people look at in the UI: counts, a plot and a Markdown preview."""

from __future__ import annotations

import base64
import io
from datetime import datetime
from typing import Any

from dagster import MetadataValue
from its_platform.resources import PostgresResource

from itscam.settings import get_settings


def table_summary(
    postgres: PostgresResource,
    table: str,
    time_col: str,
    start: datetime,
    end: datetime,
    volume_col: str | None,
) -> dict[str, Any]:
    vol = f"coalesce(sum({volume_col}), 0)" if volume_col else "0"
    with postgres.connection() as conn:
        rows, cameras, volume, first, last = conn.execute(
            f"SELECT count(*), count(DISTINCT camera_id), {vol}, min({time_col}), max({time_col}) "
            f"FROM {table} WHERE {time_col} >= %s AND {time_col} < %s",
            (start, end),
        ).fetchone()
    meta: dict[str, Any] = {
        "row_count": MetadataValue.int(int(rows)),
        "cameras_covered": MetadataValue.int(int(cameras)),
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "first_ts": str(first) if first else "-",
        "last_ts": str(last) if last else "-",
    }
    if volume_col:
        meta["vehicles"] = MetadataValue.int(int(volume))
    return meta


def markdown_preview(
    postgres: PostgresResource, query: str, params: Any, limit: int = 10
) -> MetadataValue:
    with postgres.connection() as conn:
        cur = conn.execute(f"{query} LIMIT {int(limit)}", params)
        cols = [d.name for d in cur.description or []]
        rows = cur.fetchall()
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    if not rows:
        lines.append("| " + " | ".join("-" for _ in cols) + " |")
    return MetadataValue.md("\n".join(lines))


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    return str(v)


def volume_speed_plot(
    postgres: PostgresResource, table: str, time_col: str, start: datetime, end: datetime, name: str
) -> dict[str, MetadataValue]:
    """Total volume (bars) and volume-weighted mean speed (line) per interval, all cameras."""
    with postgres.connection() as conn:
        rows = conn.execute(
            f"SELECT {time_col}, sum(volume), sum(mean_speed_kmh * volume) / NULLIF(sum(volume) "
            f"FILTER (WHERE mean_speed_kmh IS NOT NULL), 0) FROM {table} "
            f"WHERE {time_col} >= %s AND {time_col} < %s GROUP BY 1 ORDER BY 1",
            (start, end),
        ).fetchall()
    png = render_volume_speed(
        rows, title=f"{name} {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC"
    )
    plots = get_settings().state_dir / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    path = plots / f"{name}_{start:%Y%m%dT%H%M}_{end:%Y%m%dT%H%M}.png"
    path.write_bytes(png)
    b64 = base64.b64encode(png).decode()
    return {
        "plot": MetadataValue.md(f"![{name}](data:image/png;base64,{b64})"),
        "plot_path": MetadataValue.path(str(path)),
    }


def render_volume_speed(rows: list[tuple[Any, Any, Any]], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 2.6), dpi=80)
    if rows:
        ts = [r[0] for r in rows]
        width = (ts[1] - ts[0]) * 0.9 if len(ts) > 1 else 0.01
        ax.bar(ts, [r[1] for r in rows], width=width, color="#4c78a8", label="volume (veh)")
        ax2 = ax.twinx()
        ax2.plot(ts, [r[2] for r in rows], color="#f58518", marker=".", label="mean speed (km/h)")
        ax2.set_ylabel("km/h")
    else:
        ax.text(
            0.5, 0.5, "no data in this window", ha="center", va="center", transform=ax.transAxes
        )
    ax.set_ylabel("vehicles")
    ax.set_title(title, fontsize=9)
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
