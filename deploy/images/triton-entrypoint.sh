#!/bin/sh
# Start Triton on a model repository pulled from object storage: when
# ITSCAM_MODEL_REPOSITORY_URI is set and /models holds no models yet (no init
# container ran), fetch it first. Arguments are passed to tritonserver.
set -eu
if [ -n "${ITSCAM_MODEL_REPOSITORY_URI:-}" ] && [ -z "$(ls -A /models 2>/dev/null | grep -v '^\.')" ]; then
  python3 /opt/itscam/fetch_model_repository.py \
    --source "$ITSCAM_MODEL_REPOSITORY_URI" --dest /models --require "${ITSCAM_TRITON_MODEL:-yolo11_detector}"
fi
exec /opt/nvidia/nvidia_entrypoint.sh "$@"
