"""Billing source: the folder holding Cost-and-Usage-Report exports and cluster usage."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from itscam.settings import get_settings


class BillingSourceResource(ConfigurableResource):
    """Where CUR-shaped billing exports (CSV/Parquet) and cluster usage files land."""

    export_dir: str = Field("", description="Folder of CUR files; empty = <state_dir>/billing")
    generate_if_missing: bool = Field(
        True, description="Local profile: write a synthetic month when the folder holds none for it"
    )
    cameras: int = Field(1000, description="Cameras served (denominator of cost per camera)")
    seed: int = Field(7, description="Random seed of the synthetic export")

    def path(self) -> Path:
        return Path(self.export_dir) if self.export_dir else get_settings().state_dir / "billing"
