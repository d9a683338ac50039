"""ITS Camera AI Dagster code location (``workspace.yaml`` loads ``its_platform.definitions``)."""
