"""Fixtures for the deploy/ tests: rendered overlays (skipped, with the reason,
where no kubectl is installed to render them)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.deploy.factories import OVERLAYS, kubectl, render


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _rendered(name: str) -> tuple[dict[str, Any], ...]:
    if kubectl() is None:
        pytest.skip(
            "kubectl (with its built-in kustomize) is not installed: cannot render overlays"
        )
    return render(name)


@pytest.fixture
def docs(overlay: str) -> tuple[dict[str, Any], ...]:
    """The rendered documents of one overlay (parametrised over all of them)."""
    return _rendered(overlay)


@pytest.fixture
def rendered() -> Any:
    """Render an overlay by name: ``rendered("production")``."""
    return _rendered
