# Faust stream workers (detect / analyse agents).
# Build from the repository root:
#   docker build -f deploy/images/stream-worker.Dockerfile -t itscam/stream-worker:0.1.0 .
# Base pinned by tag (python 3.11.7, Debian 12, as the project's venv); pin the
# digest in your registry mirror: digests cannot be resolved where this was written.
# Build stage: the pinned runtime set (requirements/main.txt) and the project
# itself into one virtualenv. requirements/broker.txt (the development broker
# noida-db) is never installed here, and the last step proves it.
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm
FROM ${PYTHON_IMAGE} AS build
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir uv==0.13.9
COPY requirements/main.txt /tmp/requirements/main.txt
RUN /opt/venv/bin/uv pip install --no-cache --python /opt/venv/bin/python -r /tmp/requirements/main.txt
COPY pyproject.toml /src/pyproject.toml
COPY itscam /src/itscam
COPY streaming /src/streaming
COPY platform /src/platform
RUN /opt/venv/bin/uv pip install --no-cache --python /opt/venv/bin/python --no-deps /src \
 && /opt/venv/bin/pip uninstall -y uv \
 && if /opt/venv/bin/pip show noida-db >/dev/null 2>&1 || [ -e /opt/venv/bin/noida-db ]; then \
      echo "noida-db (development broker) must not be in a production image" >&2; exit 1; fi

FROM ${PYTHON_IMAGE}
# OpenCV's runtime libraries; a fixed unprivileged user. Debian's packages are
# not pinned: the base image tag fixes the release, and security updates are wanted.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 itscam \
 && useradd --system --uid 10001 --gid itscam --home-dir /var/lib/itscam --shell /usr/sbin/nologin itscam \
 && mkdir -p /var/lib/itscam && chown itscam:itscam /var/lib/itscam
COPY --from=build /opt/venv /opt/venv
COPY triton_models/yolo11n /app/triton_models/yolo11n
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ITSCAM_PROFILE=production \
    ITSCAM_STATE_DIR=/var/lib/itscam \
    ITSCAM_METRICS_PORT=9108 \
    ITSCAM_MODEL_REPOSITORY=/app/triton_models
WORKDIR /var/lib/itscam
USER 10001:10001
EXPOSE 9108
# Health: the worker's Prometheus endpoint answers while the worker runs.
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/metrics', timeout=2)"]
CMD ["python", "-m", "streaming", "worker", "--loglevel=INFO"]
