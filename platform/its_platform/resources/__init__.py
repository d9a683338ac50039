"""Resources: every external system as a ``ConfigurableResource``.

Each field defaults to ``""``, meaning "the local profile's value from
:func:`itscam.settings.get_settings`"; :mod:`its_platform.definitions` binds the
fields to ``EnvVar`` where the environment sets them, so production points the
same code elsewhere by environment only. Connections go through the shared
helpers in :mod:`itscam.clients`, never new connection code.
"""

from its_platform.resources.billing import BillingSourceResource
from its_platform.resources.influx import InfluxResource
from its_platform.resources.postgres import PostgresResource
from its_platform.resources.redis import RedisResource
from its_platform.resources.triton import ModelRepositoryResource, TritonResource

__all__ = [
    "BillingSourceResource",
    "InfluxResource",
    "ModelRepositoryResource",
    "PostgresResource",
    "RedisResource",
    "TritonResource",
]
