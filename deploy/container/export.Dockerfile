# The TensorFlow side in a container: re-run `python -m export` from a Keras checkpoint (TensorFlow + tf2onnx
# + onnx on top of the runtime set, ~1.9 GB). Kept out of the runtime Dockerfile, so no builder, BuildKit or
# the classic one, can build TensorFlow while building the service image. Build from the project root:
#   docker build -f deploy/container/export.Dockerfile -t cifar10-export:1.0.0 .
#   buildah bud --format docker -f deploy/container/export.Dockerfile -t cifar10-export:1.0.0 .   # (--pull=never here)
# Run with the project's models/ and the shared data mounted (training/data.py looks for ../shared/data):
#   podman run --rm -v "$PWD/models:/project/models" -v "$PWD/../shared/data:/shared/data:ro" \
#       -e XDG_CACHE_HOME=/cache -v "$HOME/.cache:/cache:ro" cifar10-export:1.0.0 --keras models/best_model.keras
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates python3 python3-venv; \
    rm -rf /var/lib/apt/lists/*
COPY requirements/runtime.lock.txt /tmp/runtime.lock.txt
RUN set -eux; \
    python3 -m venv /opt/export-venv; \
    /opt/export-venv/bin/pip install --no-cache-dir --no-deps --require-hashes --only-binary=:all: -r /tmp/runtime.lock.txt; \
    /opt/export-venv/bin/pip install --no-cache-dir tensorflow-cpu==2.21.0 tf2onnx==1.17.0 onnx==1.23.2
WORKDIR /project
COPY export/ export/
COPY training/ training/
COPY service/ service/
ENV PATH=/opt/export-venv/bin:$PATH PYTHONUNBUFFERED=1 ORT_DISABLE_TELEMETRY=1
ENTRYPOINT ["python", "-m", "export"]
