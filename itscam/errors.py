"""Errors a user can hit. Each says what was wrong and what to do about it.

The CLI prints these as one paragraph (no traceback) and exits non-zero.
"""

from __future__ import annotations


class ItscamError(Exception):
    """Base of every user-facing error."""

    exit_code = 2


class ConfigError(ItscamError):
    """A setting or a configuration file is invalid."""


class ServiceError(ItscamError):
    """A local service failed to start, or an endpoint cannot be reached."""


class ModelError(ItscamError):
    """A model file is missing or invalid, or inference failed."""


class GeometryError(ConfigError):
    """Camera geometry (lanes, lines, zones, calibration) is invalid."""


class DataError(ItscamError):
    """Input data (a frame, a message, a billing file) is malformed."""
