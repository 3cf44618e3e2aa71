#!/usr/bin/env bash
# Build the runtime image for one architecture and check it for real: the runtime check inside the image,
# its size; then start it, wait for readiness, send real predictions (multipart and raw body, FP32 and INT8,
# V2), run the offline batch command inside it, check that TensorFlow/pip/compilers are absent and the user is
# not root, measure memory, and stop it with SIGTERM (exit 0).
#
#   bash scripts/image-test.sh [--arch amd64|arm64]               # build + every check (make image-test)
#   bash scripts/image-test.sh [--arch amd64|arm64] --build-only  # build + runtime check + size (make image)
#
# Engine: docker when a Docker engine answers, else buildah + podman set up by CONTAINER_ENV_SCRIPT (default
# ../shared/tools/container-env.sh); CONTAINER_ENGINE=docker|podman forces one. --arch defaults to this
# machine's. Another architecture (arm64 on x86) builds and runs under qemu-user through binfmt_misc: its build
# defers the onnxruntime part of the build check (ONNXRUNTIME_CHECK=after-build), this script runs that check on
# the image, and every container it starts gets an ARM /proc/cpuinfo (scripts/lib.sh, prepare_emulation).
# Environment: IMAGE (default cifar10-serving:test for this machine's architecture, cifar10-serving:test-ARCH
# for another), IIDFILE (also write the image ID there), IMAGE_TEST_PORT (18080 native, 18090 emulated; INT8
# uses +1), IMAGE_MAX_MB (200), BUILD_ARGS (extra build arguments).
# Exit codes: 0 passed, 1 a check or the build failed, 2 usage, 77 container tooling or emulation unavailable.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly LOG_PREFIX=image-test
# shellcheck source-path=SCRIPTDIR/..
source scripts/lib.sh

usage() { echo "usage: $0 [--arch amd64|arm64] [--build-only]" >&2; exit "$EXIT_USAGE"; }
arch=$NATIVE_ARCH
build_only=0
while (($#)); do
  case "$1" in
    --build-only) build_only=1 ;;
    --arch) (($# >= 2)) || usage; arch=$(image_arch "$2"); [ -n "$arch" ] || usage; shift ;;
    *) usage ;;
  esac
  shift
done
[ -n "$NATIVE_ARCH" ] || skip "this machine's architecture ($(uname -m)) is neither amd64 nor arm64"
emulated=0
[ "$arch" = "$NATIVE_ARCH" ] || emulated=1
if ((emulated)); then
  readonly IMAGE=${IMAGE:-cifar10-serving:test-$arch} PORT=${IMAGE_TEST_PORT:-18090} READY_TIMEOUT_S=240
else
  readonly IMAGE=${IMAGE:-cifar10-serving:test} PORT=${IMAGE_TEST_PORT:-18080} READY_TIMEOUT_S=90
fi
readonly MAX_MB=${IMAGE_MAX_MB:-200}
readonly LABEL_PREFIX=cifar10-image-test-$$

python_bin=$(command -v python3 || true)
[ -x .venv/bin/python ] && python_bin=.venv/bin/python
[ -n "$python_bin" ] || skip "no python3 on this machine to drive the checks"

# --- tooling: docker, or buildah + podman (+ qemu-user for another architecture) --------------------------------
use_container_engine "$arch"
if [ "$ENGINE" = podman ]; then
  base_variable=BASE_IMAGE_${arch^^}
  base=${!base_variable:-docker.io/library/debian:bookworm-slim}
  if ! podman run --rm --network host --pull=never --arch "$arch" "$base" true >/dev/null 2>&1; then
    ((emulated)) && skip "podman cannot run linux/$arch containers here (qemu-user through binfmt_misc; tried $base)"
    skip "podman cannot run containers on this machine (tried the $base stand-in)"
  fi
fi

work=$(mktemp -d)
containers=()
cleanup() {
  local name
  for name in "${containers[@]}"; do "$ENGINE" rm -f "$name" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
prepare_emulation "$arch" "$work"

# --- build (by ID from here on: another build may move the tag meanwhile) ------------------------------------------
how="linux/$arch, target runtime"
((emulated)) && how+=", under qemu-user"
log "building $IMAGE ($how)"
build_start=$SECONDS
# shellcheck disable=SC2086  # BUILD_ARGS is a list of words on purpose
build_image "$arch" "$work/iid" -t "$IMAGE" ${BUILD_ARGS:-} >&2 || fail "the build failed (a broken Dockerfile?)"
image=$(cat "$work/iid")
[ -z "${IIDFILE:-}" ] || cp "$work/iid" "$IIDFILE"
log "built $IMAGE in $((SECONDS - build_start)) s"

image_arch=$("$ENGINE" image inspect --format '{{.Architecture}}' "$image")
[ "$image_arch" = "$arch" ] || fail "the image is for $image_arch, not $arch"
check_image_runtime "$image"

size_bytes=$("$ENGINE" image inspect --format '{{.Size}}' "$image")
size_mb=$(((size_bytes + 500000) / 1000000))
log "image layers (newest first):"
"$ENGINE" history --format '{{.Size}}\t{{.CreatedBy}}' "$image" | grep -v '^0 *B' | cut -c1-110 >&2 || true
echo "image-test: image $IMAGE (linux/$arch) size: $size_mb MB (limit $MAX_MB MB)"
((size_mb <= MAX_MB)) || fail "image is $size_mb MB, more than $MAX_MB MB"
((build_only)) && exit 0

# --- metadata: non-root user, healthcheck, labels --------------------------------------------------------------
user=$("$ENGINE" image inspect --format '{{.Config.User}}' "$image")
[[ -n "$user" && "${user%%:*}" != 0 && "${user%%:*}" != root ]] || fail "image user is '$user', expected non-root"
healthcheck=$("$ENGINE" image inspect --format '{{json .Config.Healthcheck.Test}}' "$image" 2>/dev/null || true)
[[ "$healthcheck" == *"/ready"* ]] || fail "no HEALTHCHECK on /ready in the image config: '$healthcheck'"
image_name=$("$ENGINE" image inspect --format '{{index .Config.Labels "io.cifar10-serving.image-name"}}' "$image")
[ -n "$image_name" ] || fail "label io.cifar10-serving.image-name is missing"
log "ok   user=$user, healthcheck on /ready, image-name label=$image_name"

# --- test data: real CIFAR-10 JPEGs when the shared archive is there -------------------------------------------
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

# --- run, check, measure, stop ---------------------------------------------------------------------------------
start_container() { # name port model
  containers+=("$1")
  "$ENGINE" run -d --name "$1" --network host "${EMULATION_OPTIONS[@]}" -e CIFAR10_PORT="$2" -e CIFAR10_MODEL="$3" \
    "$image" >/dev/null || fail "$ENGINE run $1 failed"
}
show_logs_and_fail() { # name message
  log "--- logs of $1 ---"; "$ENGINE" logs --tail 40 "$1" >&2 || true
  fail "$2"
}

fp32=$LABEL_PREFIX-fp32
int8=$LABEL_PREFIX-int8
start_container "$fp32" "$PORT" fp32
start_container "$int8" "$((PORT + 1))" int8

"$python_bin" deploy/container/smoke_test.py --url "http://127.0.0.1:$PORT" --images "$work/images" --model fp32 \
  --ready-timeout "$READY_TIMEOUT_S" || show_logs_and_fail "$fp32" "HTTP checks failed for the FP32 container"
"$python_bin" deploy/container/smoke_test.py --url "http://127.0.0.1:$((PORT + 1))" --images "$work/images" \
  --model int8 --ready-timeout "$READY_TIMEOUT_S" || show_logs_and_fail "$int8" "HTTP checks failed for the INT8 container"

# The image's own HEALTHCHECK command, run the way the engine runs it (docker has no `healthcheck run`).
health_command=$("$ENGINE" image inspect --format '{{index .Config.Healthcheck.Test 1}}' "$image")
"$ENGINE" exec "$fp32" sh -c "$health_command" >/dev/null 2>&1 || fail "the image's HEALTHCHECK command fails on a ready container"
log "ok   HEALTHCHECK command passes on the running container"

uid=$("$ENGINE" exec "$fp32" python -c 'import os; print(os.getuid())')
[ "$uid" != 0 ] || fail "the service runs as root"
machine=$("$ENGINE" exec "$fp32" python -c 'import platform; print(platform.machine())')
[ "$(image_arch "$machine")" = "$arch" ] || fail "the container runs as $machine, not $arch"
log "ok   service process runs as uid $uid, on $machine"

# The image's interpreter must not find the TensorFlow side, pip or a compiler.
"$ENGINE" exec "$fp32" python -c 'import tensorflow' >/dev/null 2>&1 && fail "tensorflow is importable in the image"
# -i: without it `exec` gives python no stdin, `python -` runs an empty program, and the check can never fail.
"$ENGINE" exec -i "$fp32" python - <<'PY' || fail "the runtime image holds something it should not"
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
offline=$("$ENGINE" run --rm --network none --no-healthcheck "${EMULATION_OPTIONS[@]}" -v "$work/images:/data:ro" \
  --entrypoint cifar10-predict "$image" /data --format jsonl --no-progress --model int8) \
  || fail "cifar10-predict failed inside the image"
rows=$(grep -c '"label"' <<<"$offline" || true)
expected=$(find "$work/images" -type f | wc -l)
[ "$rows" = "$expected" ] || fail "cifar10-predict classified $rows of $expected images: $offline"
log "ok   offline batch command (cifar10-predict, INT8) classified $rows images inside the image"

# Memory after real traffic: the number the Kubernetes requests/limits are sized from.
rss_kb=$("$ENGINE" exec "$fp32" python -c '
import pathlib
print(next(line.split()[1] for line in pathlib.Path("/proc/1/status").read_text().splitlines() if line.startswith("VmRSS")))')
if ((emulated)); then
  echo "image-test: FP32 container RSS after the checks: $((rss_kb / 1024)) MiB (qemu-user included: not the device's figure)"
else
  echo "image-test: FP32 container RSS after the checks: $((rss_kb / 1024)) MiB"
fi

stop_start=$SECONDS
"$ENGINE" stop -t 30 "$fp32" >/dev/null
exit_code=$("$ENGINE" inspect --format '{{.State.ExitCode}}' "$fp32")
[ "$exit_code" = 0 ] || show_logs_and_fail "$fp32" "container exited with $exit_code on SIGTERM (expected a clean 0)"
# Logs read whole first: `logs | grep -q` fails under pipefail when grep stops reading early (SIGPIPE).
stopped_logs=$("$ENGINE" logs "$fp32" 2>&1)
grep -q "inference drained" <<<"$stopped_logs" || show_logs_and_fail "$fp32" "no drain logged on SIGTERM"
log "ok   SIGTERM: drained, clean exit 0 in $((SECONDS - stop_start)) s"

echo "image-test: PASSED ($IMAGE, linux/$arch, $size_mb MB)"
