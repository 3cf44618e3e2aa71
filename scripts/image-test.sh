#!/usr/bin/env bash
# Build the runtime image and check it for real: start it, wait for readiness, send real predictions
# (multipart and raw body, FP32 and INT8), run the offline batch command inside it, check that
# TensorFlow/pip/compilers are absent and the user is not root, measure memory and size, stop it.
#
#   bash scripts/image-test.sh               # build + every check (make image-test)
#   bash scripts/image-test.sh --build-only  # build + size report (make image)
#
# Environment: IMAGE (default cifar10-serving:test), IMAGE_TEST_PORT (18080; the INT8 run uses +1),
# IMAGE_MAX_MB (200), BUILD_ARGS (extra `buildah bud` arguments, e.g. "--platform linux/arm64"),
# CONTAINER_ENV_SCRIPT (default ../shared/tools/container-env.sh: installs buildah/podman, prints exports).
# Exit codes: 0 passed, 1 a check or the build failed, 2 usage, 77 container tooling unavailable (skip).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly LOG_PREFIX=image-test
# shellcheck source-path=SCRIPTDIR/..
source scripts/lib.sh

readonly IMAGE=${IMAGE:-cifar10-serving:test}
readonly PORT=${IMAGE_TEST_PORT:-18080}
readonly MAX_MB=${IMAGE_MAX_MB:-200}
readonly CONTAINER_ENV=${CONTAINER_ENV_SCRIPT:-../shared/tools/container-env.sh}
readonly LABEL_PREFIX=cifar10-image-test-$$

build_only=0
case "${1:-}" in
  "") ;;
  --build-only) build_only=1 ;;
  *) echo "usage: $0 [--build-only]" >&2; exit $EXIT_USAGE ;;
esac

python_bin=$(command -v python3 || true)
[ -x .venv/bin/python ] && python_bin=.venv/bin/python
[ -n "$python_bin" ] || skip "no python3 on this machine to drive the checks"

# --- tooling: buildah + podman + the local debian:bookworm-slim stand-in -----------------------
[ -f "$CONTAINER_ENV" ] || skip "$CONTAINER_ENV not found: this machine has no container tooling set-up script"
if ! exports=$(bash "$CONTAINER_ENV"); then
  skip "container tooling could not be installed by $CONTAINER_ENV (see its message above)"
fi
eval "$exports"
if ! podman run --rm --network host --pull=never docker.io/library/debian:bookworm-slim true >/dev/null 2>&1; then
  skip "podman cannot run containers on this machine (tried the debian:bookworm-slim stand-in)"
fi

# --- build -----------------------------------------------------------------------------------
log "building $IMAGE (target runtime)"
build_start=$SECONDS
# --format docker keeps HEALTHCHECK (the OCI format has no field for it); --layers caches stages.
# shellcheck disable=SC2086  # BUILD_ARGS is a list of words on purpose
buildah bud --isolation chroot --pull=never --network host --format docker --layers \
  --target runtime ${BUILD_ARGS:-} -t "$IMAGE" . >&2 || fail "buildah bud failed (a broken Dockerfile?)"
log "built in $((SECONDS - build_start)) s"

size_bytes=$(podman image inspect --format '{{.Size}}' "$IMAGE")
size_mb=$(((size_bytes + 500000) / 1000000))
log "image layers (newest first):"
podman history --format '{{.Size}}\t{{.CreatedBy}}' "$IMAGE" | grep -v '^0 B' | cut -c1-110 >&2 || true
echo "image-test: image $IMAGE size: $size_mb MB (limit $MAX_MB MB)"
((size_mb <= MAX_MB)) || fail "image is $size_mb MB, more than $MAX_MB MB"
((build_only)) && exit 0

# --- metadata: non-root user, healthcheck, labels --------------------------------------------
user=$(podman image inspect --format '{{.Config.User}}' "$IMAGE")
[[ -n "$user" && "${user%%:*}" != 0 && "${user%%:*}" != root ]] || fail "image user is '$user', expected non-root"
healthcheck=$(podman image inspect --format '{{.Config.Healthcheck}}' "$IMAGE")
[[ "$healthcheck" == *"/ready"* ]] || fail "no HEALTHCHECK on /ready in the image config: '$healthcheck'"
image_name=$(podman image inspect --format '{{index .Config.Labels "io.cifar10-serving.image-name"}}' "$IMAGE")
[ -n "$image_name" ] || fail "label io.cifar10-serving.image-name is missing"
log "ok   user=$user, healthcheck on /ready, image-name label=$image_name"

# --- test data: real CIFAR-10 JPEGs when the shared archive is there -------------------------
work=$(mktemp -d)
containers=()
cleanup() {
  local name
  for name in "${containers[@]}"; do podman rm -f -t 2 "$name" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/images"
if [ -f "$DATA_ARCHIVE" ]; then
  extract_test_images "$work/images" 1
  log "test images: ${#CIFAR10_CLASSES[@]} real CIFAR-10 JPEGs from $DATA_ARCHIVE"
else
  # Plain PPM files (no imaging library needed here): a gradient and a checkerboard.
  "$python_bin" - "$work/images" <<'PY'
import sys
from pathlib import Path

folder = Path(sys.argv[1])
for name, pixel in {
    "gradient.ppm": lambda x, y: (x * 8, y * 8, 128),
    "checker.ppm": lambda x, y: (255, 255, 255) if (x // 4 + y // 4) % 2 else (20, 40, 200),
}.items():
    data = bytes(value for y in range(32) for x in range(32) for value in pixel(x, y))
    (folder / name).write_bytes(b"P6 32 32 255\n" + data)
PY
  log "test images: generated (the shared archive $DATA_ARCHIVE is not here)"
fi
chmod -R a+rX "$work"

# --- run, check, measure, stop ---------------------------------------------------------------
start_container() { # name port model
  containers+=("$1")
  podman run -d --name "$1" --network host -e CIFAR10_PORT="$2" -e CIFAR10_MODEL="$3" "$IMAGE" >/dev/null \
    || fail "podman run $1 failed"
}
show_logs_and_fail() { # name message
  log "--- logs of $1 ---"; podman logs --tail 40 "$1" >&2 || true
  fail "$2"
}

fp32=$LABEL_PREFIX-fp32
int8=$LABEL_PREFIX-int8
start_container "$fp32" "$PORT" fp32
start_container "$int8" "$((PORT + 1))" int8

"$python_bin" deploy/container/smoke_test.py --url "http://127.0.0.1:$PORT" --images "$work/images" --model fp32 \
  || show_logs_and_fail "$fp32" "HTTP checks failed for the FP32 container"
"$python_bin" deploy/container/smoke_test.py --url "http://127.0.0.1:$((PORT + 1))" --images "$work/images" \
  --model int8 || show_logs_and_fail "$int8" "HTTP checks failed for the INT8 container"

podman healthcheck run "$fp32" >/dev/null 2>&1 || fail "the image's HEALTHCHECK command fails on a ready container"
log "ok   HEALTHCHECK command passes on the running container"

uid=$(podman exec "$fp32" python -c 'import os; print(os.getuid())')
[ "$uid" != 0 ] || fail "the service runs as root"
log "ok   service process runs as uid $uid"

# The image's interpreter must not find the TensorFlow side, pip or a compiler.
podman exec "$fp32" python -c 'import tensorflow' >/dev/null 2>&1 && fail "tensorflow is importable in the image"
# -i: without it `exec` gives python no stdin, `python -` runs an empty program, and the check can never fail.
podman exec -i "$fp32" python - <<'PY' || fail "the runtime image holds something it should not"
import importlib.util
import shutil
import site
import sys
from pathlib import Path

forbidden = ["tensorflow", "keras", "tf2onnx", "onnx", "pip", "setuptools", "matplotlib", "fastapi", "export"]
found = [name for name in forbidden if importlib.util.find_spec(name) is not None]
site_folders = [folder for folder in map(Path, site.getsitepackages()) if folder.is_dir()]
folders = [entry.name for folder in site_folders for entry in folder.iterdir()]
found += [name for name in folders if name.lower().startswith(("tensorflow", "tf_keras", "keras", "tf2onnx"))]
found += [tool for tool in ("gcc", "cc", "g++", "pip", "pip3", "apt-get", "curl") if shutil.which(tool)]
if found:
    sys.exit(f"image-test: found in the runtime image: {found}")
PY
log "ok   no tensorflow/keras/tf2onnx/onnx/pip/setuptools, no compiler, apt or curl in the image"

# Offline batch command inside the image, on a read-only mounted folder.
offline=$(podman run --rm --network none -v "$work/images:/data:ro" --entrypoint cifar10-predict "$IMAGE" \
  /data --format jsonl --no-progress --model int8) || fail "cifar10-predict failed inside the image"
rows=$(grep -c '"label"' <<<"$offline" || true)
expected=$(find "$work/images" -type f | wc -l)
[ "$rows" = "$expected" ] || fail "cifar10-predict classified $rows of $expected images: $offline"
log "ok   offline batch command (cifar10-predict, INT8) classified $rows images inside the image"

# Memory after real traffic: the number the Kubernetes requests/limits are sized from.
rss_kb=$(podman exec "$fp32" python -c '
import pathlib
print(next(line.split()[1] for line in pathlib.Path("/proc/1/status").read_text().splitlines() if line.startswith("VmRSS")))')
echo "image-test: FP32 container RSS after the checks: $((rss_kb / 1024)) MiB"

stop_start=$SECONDS
podman stop -t 30 "$fp32" >/dev/null
exit_code=$(podman inspect --format '{{.State.ExitCode}}' "$fp32")
[ "$exit_code" = 0 ] || show_logs_and_fail "$fp32" "container exited with $exit_code on SIGTERM (expected a clean 0)"
log "ok   SIGTERM: clean exit 0 in $((SECONDS - stop_start)) s"

echo "image-test: PASSED ($IMAGE, $size_mb MB)"
