# The TensorFlow-path comparison image: the original design as a Keras user ships it
# (Debian's python3 + tensorflow-cpu + FastAPI + Pillow, serving best_model.keras with model.predict).
# Same base image as the runtime image; one RUN, no pip cache, but no pruning beyond that.
# Built by `python -m benchmarks.tf_image` (it assembles the small build context); only the benchmarks use it.
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim
FROM ${BASE_IMAGE}
RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates; \
    python3 -m venv /opt/venv; \
    /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check \
        tensorflow-cpu==2.21.0 fastapi==0.165.0 uvicorn==0.54.0 pillow==13.0.0 python-multipart==0.0.34 numpy==2.4.6; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log
COPY app/ /app/
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    TF_CPP_MIN_LOG_LEVEL=2
WORKDIR /app
EXPOSE 8001
ENTRYPOINT ["python", "-m", "benchmarks.tf_service", "--host", "0.0.0.0", "--port", "8001", "--model", "/app/models/best_model.keras"]
