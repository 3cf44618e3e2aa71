# CIFAR-10 inference microservice: a small onnxruntime-only runtime image (no TensorFlow anywhere in this
# file; the export image is deploy/container/export.Dockerfile). Stages:
#   python   Debian's python3 (3.11) with nothing else; the base of every stage
#   wheels   installs the pinned runtime wheels into /opt/venv, prunes what the service never loads, checks them
#   rootfs   python minus the parts of Debian a running service never executes
#   runtime  (default, last) rootfs + /opt/venv + service/ + the ONNX models, non-root
#
#   docker build --target runtime -t cifar10-serving:1.0.0 .
#   buildah bud --format docker --target runtime -t cifar10-serving:1.0.0 .     # (--pull=never here)
#   buildah bud --format docker --build-arg MODEL=int8 -t cifar10-serving:1.0.0-int8 .
# linux/arm64 on an x86 machine (qemu-user through binfmt_misc), checked afterwards by scripts/image-test.sh:
#   docker build --platform linux/arm64 --build-arg ONNXRUNTIME_CHECK=after-build -t cifar10-serving:1.0.0-arm64 .
#   buildah bud --format docker --arch arm64 --build-arg ONNXRUNTIME_CHECK=after-build -t cifar10-serving:1.0.0-arm64 .
# (`make image ARCH=arm64` and `make image-multiarch` do this, then run the check the build could not.)
# Nothing else here is architecture-specific: Debian packages and PyPI wheels exist for amd64 and arm64.

ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim

# ---------------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS python
# python3 from Debian, no recommends; the same RUN drops parts of the standard library the
# service never imports (a later layer could not give their bytes back).
RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3; \
    apt-get clean; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log; \
    cd /usr/lib/python3.11; \
    rm -rf ensurepip idlelib lib2to3 pydoc_data tkinter turtledemo turtle.py test distutils/tests \
        config-3.11-*; \
    find /usr/lib/python3.11 -depth -type d -empty -delete

# ---------------------------------------------------------------------------------------------
FROM python AS wheels
RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates python3-pip python3-venv binutils
COPY requirements/runtime.lock.txt /tmp/runtime.lock.txt
# Hash-checked, binary-only install of the exact runtime set; no pip/setuptools inside the venv.
RUN set -eux; \
    python3 -m venv --without-pip /opt/venv; \
    python3 -m pip --python /opt/venv/bin/python install --no-cache-dir --no-compile --no-deps \
        --require-hashes --only-binary=:all: --disable-pip-version-check -r /tmp/runtime.lock.txt; \
    python3 -m pip --python /opt/venv/bin/python check; \
    du -sm /opt/venv/lib/python3.11/site-packages
# Prune what the service does not use (measured sizes in deploy/README.md), then byte-compile:
#  - onnxruntime: the C-API library (the Python binding links everything statically), and the
#    Python tooling packages (quantization, transformers, tools) that only the export side uses;
#  - numpy: tests, f2py, distutils, the test-only extension modules, typing stubs;
#  - swagger-ui-py: every bundled file but the two /docs serves (Swagger Editor alone is 20 MB);
#  - every package: tests folders, type stubs; debug symbols of the extension modules (not of the
#    auditwheel-vendored libraries in *.libs/: patchelf's layout does not survive `strip`).
RUN set -eux; \
    site=/opt/venv/lib/python3.11/site-packages; \
    cd "$site"; \
    rm -rf onnxruntime/capi/libonnxruntime.so.* onnxruntime/quantization onnxruntime/transformers \
        onnxruntime/tools; \
    rm -rf numpy/f2py numpy/distutils numpy/_pyinstaller numpy/_core/include numpy/_core/lib/pkgconfig \
        numpy/_core/_*_tests.cpython-* numpy/_core/_simd.cpython-*; \
    find swagger_ui/static -type f ! -name swagger-ui-bundle.js ! -name swagger-ui.css ! -name LICENSE -delete; \
    rm -f /opt/venv/bin/f2py /opt/venv/bin/numpy-config /opt/venv/bin/onnxruntime_test /opt/venv/bin/Activate.ps1; \
    find "$site" -depth -type d \( -name tests -o -name __pycache__ \) -exec rm -rf {} +; \
    find "$site" -name '*.pyi' -delete; \
    find "$site" -name '*.so*' -type f ! -path '*.libs/*' -exec strip --strip-debug {} +; \
    /opt/venv/bin/python -m compileall -q -j 0 "$site" >/dev/null; \
    du -sm "$site"
# The service becomes an installed distribution of the venv (a .pth entry for /app, metadata, the
# console scripts of pyproject.toml), so `python -m service`, `cifar10-serve` and `cifar10-predict`
# work from any directory. Done before copying service/ so a code change leaves /opt/venv as it was.
COPY pyproject.toml deploy/container/register_app.py /tmp/build/
RUN python3 /tmp/build/register_app.py --pyproject /tmp/build/pyproject.toml --app-dir /app --venv /opt/venv \
        --package service
COPY service/ /app/service/
# Byte-compiled here (the runtime user cannot write __pycache__, and start-up stays fast), then checked: the
# pruned and stripped set must still load and compute (deploy/container/check_runtime.py).
# ONNXRUNTIME_CHECK=after-build: a build under qemu-user, where onnxruntime's CPU detection crashes on the
# host's /proc/cpuinfo, leaves the onnxruntime part of the check to scripts/image-test.sh (on the image, with
# an ARM /proc/cpuinfo). Natively it changes nothing; without it an emulated build stops and says why.
ARG ONNXRUNTIME_CHECK=build
COPY deploy/container/check_runtime.py /tmp/build/
RUN set -eux; \
    find /app -depth -name __pycache__ -type d -exec rm -rf {} +; \
    /opt/venv/bin/python -m compileall -q -j 0 /app >/dev/null; \
    cd /tmp; \
    /opt/venv/bin/python /tmp/build/check_runtime.py --onnxruntime "$ONNXRUNTIME_CHECK"; \
    du -sm /opt/venv /app

# ---------------------------------------------------------------------------------------------
# The operating system the service runs on: debian:bookworm-slim + python3, minus everything
# a running service never executes (package manager, perl, shells' extras, user tools, iconv
# modules, time-zone data). dpkg and its database stay, so image scanners still see exact
# package versions. The image is rebuilt, never apt-upgraded in place.
FROM python AS rootfs
RUN set -eux; \
    groupadd --system --gid 10001 app; \
    useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app; \
    rm -rf /usr/lib/*-linux-gnu/gconv /usr/share/zoneinfo; \
    dpkg --purge --force-remove-essential --force-depends \
        apt libapt-pkg6.0 gpgv debian-archive-keyring libgnutls30 libhogweed6 libnettle8 libgmp10 \
        libp11-kit0 libtasn1-6 libidn2-0 libunistring2 libgcrypt20 libgpg-error0 libsystemd0 libudev1 \
        libxxhash0 adduser passwd login util-linux util-linux-extra mount libmount1 libblkid1 \
        libsmartcols1 e2fsprogs libext2fs2 libss2 logsave tar diffutils findutils tzdata libc-bin \
        libpam-modules libpam-modules-bin libpam-runtime libpam0g libsemanage2 libsemanage-common \
        libsepol2 libaudit1 libaudit-common libcap-ng0 sysvinit-utils init-system-helpers bsdutils \
        ncurses-bin gzip hostname; \
    dpkg --purge --force-remove-essential --force-depends --force-bad-path debconf perl-base bash; \
    rm -rf /etc/apt /var/lib/apt /var/cache/* /var/log/* /var/lib/dpkg/*-old /usr/lib/udev \
        /usr/share/perl* /usr/lib/*-linux-gnu/perl* /usr/share/debconf /usr/share/keyrings /tmp/*

# ---------------------------------------------------------------------------------------------
# The runtime image: one layer for the OS + python, one for the Python packages, one for the
# service, one for the models, so a code or model change rebuilds and ships only its own layer.
FROM scratch AS runtime
# int8 | fp32: the model served by default; CIFAR10_MODEL overrides it at run time. INT8 by default: 2.05x
# FP32's images/s per core at batch 1 and 1.68x at batch 32, same test accuracy (models/export.json).
ARG MODEL=int8
ARG VERSION=1.0.0
ARG IMAGE_NAME=cifar10-serving
LABEL org.opencontainers.image.title="cifar10-serving" \
      org.opencontainers.image.description="CIFAR-10 image classifier: ONNX model served by Starlette + onnxruntime (no TensorFlow)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim" \
      org.opencontainers.image.ref.name="${IMAGE_NAME}:${VERSION}" \
      io.cifar10-serving.image-name="${IMAGE_NAME}" \
      io.cifar10-serving.model="${MODEL}"
COPY --from=rootfs / /
COPY --from=wheels /opt/venv /opt/venv
COPY --from=wheels /app/service /app/service
# .dockerignore lets through only the ONNX models (and manifest.json when present).
COPY models/ /app/models/
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ORT_DISABLE_TELEMETRY=1 \
    CIFAR10_HOST=0.0.0.0 \
    CIFAR10_PORT=8000 \
    CIFAR10_MODELS_DIR=/app/models \
    CIFAR10_MODEL=${MODEL}
WORKDIR /app
USER 10001:10001
EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD python -c 'import os, urllib.request; urllib.request.urlopen("http://127.0.0.1:%s/ready" % os.environ.get("CIFAR10_PORT", "8000"), timeout=2)' || exit 1
ENTRYPOINT ["python", "-m", "service"]
