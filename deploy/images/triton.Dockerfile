# NVIDIA Triton Inference Server for the YOLO11 detector on T4 nodes.
# Build from the repository root:
#   docker build -f deploy/images/triton.Dockerfile -t itscam/triton:0.1.0 .
# Base pinned by tag: Triton 24.10 = server 2.51.0, the same server version the
# local profile runs (nvidia-pytriton 0.7.0). Pin the digest in your registry
# mirror; digests cannot be resolved from the machine this file was written on.
# The repository names no registry host: mirror NVIDIA's NGC image
# tritonserver:24.10-py3 into your registry and pass it, e.g.
#   --build-arg TRITON_BASE=<your-registry>/nvidia/tritonserver:24.10-py3
ARG TRITON_BASE=nvidia/tritonserver:24.10-py3
FROM ${TRITON_BASE}

# Pre/post-processing models run on the python backend with the image's
# python3; their maths is the project's itscam.vision module (one copy).
COPY deploy/images/triton-requirements.txt /tmp/triton-requirements.txt
RUN python3 -m pip install --no-cache-dir -r /tmp/triton-requirements.txt \
 && rm /tmp/triton-requirements.txt
COPY itscam /opt/itscam/src/itscam
COPY deploy/images/fetch_model_repository.py /opt/itscam/fetch_model_repository.py
COPY deploy/images/triton-entrypoint.sh /opt/itscam/triton-entrypoint.sh

# The NGC image ships the unprivileged user triton-server (uid 1000).
RUN mkdir -p /models && chown 1000:1000 /models
ENV PYTHONPATH=/opt/itscam/src \
    PYTHONDONTWRITEBYTECODE=1 \
    ITSCAM_TRITON_MODEL=yolo11_detector
USER 1000:1000
EXPOSE 8000 8001 8002
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s \
  CMD ["curl", "-fsS", "http://127.0.0.1:8000/v2/models/yolo11_detector/ready"]
ENTRYPOINT ["/opt/itscam/triton-entrypoint.sh"]
CMD ["tritonserver", "--model-repository=/models", "--strict-readiness=true"]
