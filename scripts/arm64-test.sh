#!/usr/bin/env bash
# Run the service on linux/arm64 for real, on this x86 machine, under qemu-user emulation:
# Debian bookworm's arm64 python3.11 (the runtime image's interpreter) plus the aarch64 wheels of
# requirements/runtime.lock.txt, installed with the Dockerfile's own flags (--require-hashes, so the
# lock's aarch64 hashes are proven too). Then: start `python -m service` as arm64, wait for /ready,
# run deploy/container/smoke_test.py against it, run the offline command (cifar10-predict) as arm64
# on 100 real test images with FP32 and INT8 and require the same answers as x86 (top-1 equal,
# probabilities within 1e-5), and stop the server with SIGTERM (it must drain and exit 0).
#
#   bash scripts/arm64-test.sh        (make arm64-test)
#
# Environment: ARM64_CACHE (default ~/.cache/cifar10-serving/arm64: the arm64 Python and wheels),
# ARM64_TEST_PORT (18090), ARM64_MODEL (model the server runs: int8, the edge choice, or fp32).
# Needs qemu-user-static and a private mount namespace (unshare); installs qemu-user-static and
# adds the arm64 dpkg architecture when run as root with apt. onnxruntime's CPU detection reads
# /proc/cpuinfo, which qemu-user passes through from the x86 host, so an ARM cpuinfo is bind-mounted
# over it inside the namespace.
# Exit codes: 0 passed, 1 a check failed, 2 usage, 77 emulation unavailable on this machine (skip).
set -euo pipefail
cd "$(dirname "$0")/.."

readonly LOG_PREFIX=arm64-test
# shellcheck source-path=SCRIPTDIR/..
source scripts/lib.sh

readonly CACHE=${ARM64_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cifar10-serving/arm64}
readonly PORT=${ARM64_TEST_PORT:-18090}
readonly MODEL=${ARM64_MODEL:-int8}
readonly LOCK=requirements/runtime.lock.txt
# Debian bookworm arm64 packages: python3.11 and the shared libraries it and the wheels load.
readonly DEBS=(python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libc6 libgcc-s1 libstdc++6 zlib1g
  libexpat1 libffi8 libssl3 libbz2-1.0 liblzma5 libsqlite3-0 libuuid1 libncursesw6 libtinfo6 libreadline8
  libcrypt1 libdb5.3 libgdbm6 libnsl2 libtirpc3)

[ $# -eq 0 ] || { echo "usage: $0 (no arguments; see the header for settings)" >&2; exit $EXIT_USAGE; }
case "$MODEL" in fp32 | int8) ;; *) echo "ARM64_MODEL must be fp32 or int8, got '$MODEL'" >&2; exit $EXIT_USAGE ;; esac

as_root() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }

host_python=.venv/bin/python
[ -x "$host_python" ] || skip "no project virtualenv (.venv) to drive the checks: run make test or make serve first"
[ -f "$DATA_ARCHIVE" ] || skip "the CIFAR-10 archive $DATA_ARCHIVE is not here"

# --- emulation: qemu-user-static and a private mount namespace ------------------------------
if ! command -v qemu-aarch64-static >/dev/null; then
  as_root || skip "qemu-aarch64-static is not installed (Debian: qemu-user-static) and this is not root with apt"
  log "installing qemu-user-static"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends qemu-user-static >/tmp/arm64-qemu.log 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
      --no-install-recommends qemu-user-static >/tmp/arm64-qemu.log 2>&1; } \
    || skip "apt-get could not install qemu-user-static (see /tmp/arm64-qemu.log)"
fi
namespace=(unshare --mount)
[ "$(id -u)" = 0 ] || namespace=(unshare --map-root-user --mount)
"${namespace[@]}" true 2>/dev/null || skip "cannot create a private mount namespace here (${namespace[*]})"

# --- the arm64 Python (Debian packages, extracted) --------------------------------------------
root=$CACHE/root
if [ ! -x "$root/usr/bin/python3.11" ]; then
  as_root || skip "no arm64 Python in $CACHE and not root with apt to download it"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    log "adding the arm64 dpkg architecture (package lists only; nothing arm64 is installed)"
    dpkg --add-architecture arm64
  fi
  apt-get update -q >/tmp/arm64-apt.log 2>&1 || skip "apt-get update failed (see /tmp/arm64-apt.log)"
  rm -rf "$CACHE/debs" "$root" && mkdir -p "$CACHE/debs" "$root"
  log "downloading ${#DEBS[@]} Debian bookworm arm64 packages"
  (cd "$CACHE/debs" && apt-get download "${DEBS[@]/%/:arm64}" media-types >>/tmp/arm64-apt.log 2>&1) \
    || skip "apt-get download of the arm64 packages failed (see /tmp/arm64-apt.log)"
  for deb in "$CACHE"/debs/*.deb; do dpkg-deb -x "$deb" "$root"; done
fi
lock_hash=$(sha256sum "$LOCK" | cut -c1-16)
site=$CACHE/site-$lock_hash
if [ ! -d "$site" ]; then
  log "installing the aarch64 wheels of $LOCK (hash-checked)"
  rm -rf "$site.partial"
  "$host_python" -m pip install --quiet --disable-pip-version-check --target "$site.partial" --require-hashes \
    --no-deps --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
    --platform manylinux_2_28_aarch64 --platform manylinux_2_27_aarch64 --platform manylinux2014_aarch64 \
    -r "$LOCK" 2> >(grep -v "is ignored: it is neither" >&2) || fail "pip could not install the aarch64 wheels of $LOCK"
  mv "$site.partial" "$site"
fi
cpuinfo=$CACHE/cpuinfo
for cpu in 0 1; do
  printf 'processor\t: %s\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\n' "$cpu"
done >"$cpuinfo"

# "${arm64[@]}" <python arguments...>: the arm64 interpreter on this checkout's code, in the namespace
# (every step execs the next, so the process started is, in the end, qemu running python).
# shellcheck disable=SC2016  # "$0" and "$@" are the inner sh's
arm64=("${namespace[@]}" sh -c 'mount --bind "$0" /proc/cpuinfo && exec "$@"' "$cpuinfo"
  env -i PATH=/usr/bin:/bin HOME=/tmp PYTHONPATH="$site:$PWD" PYTHONDONTWRITEBYTECODE=1
  qemu-aarch64-static -L "$root" "$root/usr/bin/python3.11")
machine=$("${arm64[@]}" -c 'import platform; print(platform.machine())') || fail "the arm64 Python does not start under qemu"
[ "$machine" = aarch64 ] || fail "expected platform.machine() == aarch64, got '$machine'"
versions=$("${arm64[@]}" -c 'import onnxruntime, numpy, PIL; print("onnxruntime", onnxruntime.__version__, "numpy", numpy.__version__, "pillow", PIL.__version__)') \
  || fail "the runtime wheels do not import on arm64"
log "ok   arm64 Python 3.11 ($machine) under qemu: $versions"

# --- test images --------------------------------------------------------------------------
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
extract_test_images "$work/images" 10 # 100 images for the offline comparison
extract_test_images "$work/smoke" 1   # one per class for the HTTP smoke checks

# --- the server, as arm64 -----------------------------------------------------------------
"${arm64[@]}" -m service --host 127.0.0.1 --port "$PORT" --model "$MODEL" >"$work/server.log" 2>&1 &
server_pid=$!
if ! "$host_python" deploy/container/smoke_test.py --url "http://127.0.0.1:$PORT" --images "$work/smoke" \
  --model "$MODEL" --ready-timeout 180; then
  tail -n 20 "$work/server.log" >&2
  fail "HTTP checks failed against the arm64 server"
fi
kill -TERM "$server_pid"
status=0
for _ in $(seq 1 60); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.5; done
kill -0 "$server_pid" 2>/dev/null && fail "the arm64 server did not stop within 30 s of SIGTERM"
wait "$server_pid" || status=$?
server_pid=""
grep -q "inference drained" "$work/server.log" || fail "the arm64 server did not drain on SIGTERM"
[ "$status" = 0 ] || fail "the arm64 server exited with $status after SIGTERM (expected a clean 0)"
log "ok   arm64 server ($MODEL): HTTP smoke checks passed, SIGTERM drained and exited 0"

# --- the offline command as arm64 vs x86: same answers -----------------------------------------
for model in fp32 int8; do
  "${arm64[@]}" -m service.offline "$work/images" --format jsonl --no-progress --model "$model" -o "$work/arm64-$model.jsonl" \
    2>"$work/offline.log" || { cat "$work/offline.log" >&2; fail "cifar10-predict ($model) failed on arm64"; }
  "$host_python" -m service.offline "$work/images" --format jsonl --no-progress --model "$model" \
    -o "$work/x86-$model.jsonl" 2>/dev/null || fail "cifar10-predict ($model) failed on x86"
  summary=$("$host_python" - "$work/arm64-$model.jsonl" "$work/x86-$model.jsonl" <<'PY'
import json
import sys

arm, x86 = ([json.loads(line) for line in open(path)] for path in sys.argv[1:3])
assert len(arm) == len(x86) == 100, (len(arm), len(x86))
x86_by_path = {row["path"]: row for row in x86}
worst, agree = 0.0, 0
for row in arm:
    reference = x86_by_path[row["path"]]
    agree += row["label"] == reference["label"]
    worst = max(worst, *(abs(row["probabilities"][k] - reference["probabilities"][k]) for k in reference["probabilities"]))
print(f"{agree}/{len(arm)} same label, max |dp| {worst:.1e}")
sys.exit(0 if agree == len(arm) and worst <= 1e-5 else 1)
PY
) || fail "arm64 and x86 answers differ ($model): $summary"
  log "ok   offline command ($model) on 100 real test images, arm64 vs x86: $summary"
done
log "PASSED (linux/arm64 under qemu-user: $versions)"
