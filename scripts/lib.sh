# shellcheck shell=bash
# Shared by the check scripts (scripts/image-test.sh, scripts/multiarch.sh); sourced, not run, from the
# project root after the caller's `set -euo pipefail` and `cd`. Provides:
#   EXIT_FAIL=1, EXIT_USAGE=2, EXIT_SKIP=77   the exit codes the tests (tests/deploy) rely on
#   log / fail / skip MESSAGE                 to stderr as "$LOG_PREFIX: ..."; fail and skip exit
#   DATA_ARCHIVE, CIFAR10_CLASSES             the shared CIFAR-10 JPEG archive and its ten class folders
#   extract_test_images FOLDER N              the first N test images of every class into FOLDER
#   NATIVE_ARCH, image_arch NAME              this machine's architecture as images name it; NAME normalised
#   use_container_engine ARCH...              docker when an engine answers, else buildah + podman; sets ENGINE
#   build_image ARCH IIDFILE [ARGS...]        the runtime image for ARCH from the Dockerfile; its ID into IIDFILE
#   prepare_emulation ARCH FOLDER             sets EMULATION_OPTIONS, the `run` options an ARCH container needs here
#   check_image_runtime IMAGE                 deploy/container/check_runtime.py inside IMAGE, onnxruntime included
# The caller sets LOG_PREFIX (e.g. image-test) before sourcing.

: "${LOG_PREFIX:?set LOG_PREFIX before sourcing scripts/lib.sh}"

# shellcheck disable=SC2034  # used by the scripts that source this file
readonly EXIT_FAIL=1 EXIT_USAGE=2 EXIT_SKIP=77
# shellcheck disable=SC2034
readonly DATA_ARCHIVE=../shared/data/cifar10-jpeg.tar.gz
readonly CIFAR10_CLASSES=(airplane automobile bird cat deer dog frog horse ship truck)
readonly CONTAINER_ENV=${CONTAINER_ENV_SCRIPT:-../shared/tools/container-env.sh}

log() { echo "$LOG_PREFIX: $*" >&2; }
fail() { log "FAIL: $*"; exit "$EXIT_FAIL"; }
skip() { log "SKIP: $*"; exit "$EXIT_SKIP"; }

# extract_test_images FOLDER N: extract test/<class>/0000.jpg ... test/<class>/<N-1>.jpg of every class from
# DATA_ARCHIVE into FOLDER (created if needed), keeping the archive's layout: 10 × N JPEGs.
extract_test_images() {
  local folder=$1 count=$2 class index member
  local members=()
  for class in "${CIFAR10_CLASSES[@]}"; do
    for ((index = 0; index < count; index++)); do
      printf -v member 'test/%s/%04d.jpg' "$class" "$index"
      members+=("$member")
    done
  done
  mkdir -p "$folder"
  tar -xzf "$DATA_ARCHIVE" -C "$folder" "${members[@]}"
}

# image_arch NAME: amd64 or arm64 for NAME in either spelling (x86_64, aarch64 as `uname -m` says); else empty.
image_arch() {
  case "$1" in
    amd64 | x86_64) echo amd64 ;;
    arm64 | aarch64) echo arm64 ;;
    *) echo "" ;;
  esac
}
NATIVE_ARCH=$(image_arch "$(uname -m)")
readonly NATIVE_ARCH

# use_container_engine ARCH...: ENGINE=docker when a Docker engine answers `docker info`, else ENGINE=podman with
# buildah + podman (and, for architectures other than this machine's, qemu-user through binfmt_misc and a local
# base image BASE_IMAGE_<ARCH>) set up by CONTAINER_ENV. CONTAINER_ENGINE=docker|podman forces one. Skips (exit
# 77) when the chosen engine cannot be set up.
use_container_engine() {
  local choice=${CONTAINER_ENGINE:-} arch exports foreign=()
  case "$choice" in "" | docker | podman) ;; *)
    echo "CONTAINER_ENGINE must be docker or podman (or unset), got '$choice'" >&2
    exit "$EXIT_USAGE"
    ;;
  esac
  if [ "$choice" != podman ] && command -v docker >/dev/null && timeout 30 docker info >/dev/null 2>&1; then
    ENGINE=docker
    log "engine: docker (server $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo unknown))"
    return 0
  fi
  [ "$choice" != docker ] || skip "CONTAINER_ENGINE=docker, but no Docker engine answers (docker info failed)"
  for arch in "$@"; do [ "$arch" = "$NATIVE_ARCH" ] || foreign+=("$arch"); done
  if [ ! -f "$CONTAINER_ENV" ]; then
    # buildah + podman installed the usual way (they pull the base image themselves); other architectures also
    # need qemu-user registered with binfmt_misc, which is this machine's business then.
    command -v buildah >/dev/null && command -v podman >/dev/null \
      || skip "no Docker engine, no buildah + podman, and $CONTAINER_ENV not found to set them up"
    ENGINE=podman
    PULL_POLICY=missing
    log "engine: buildah $(buildah --version | awk '{print $3}') + podman $(podman --version | awk '{print $3}') (installed; no Docker engine answers here)"
    return 0
  fi
  if ! exports=$(CONTAINER_ARCHES="${foreign[*]}" bash "$CONTAINER_ENV"); then
    skip "container tooling could not be installed by $CONTAINER_ENV${foreign[*]:+ (with qemu-user for ${foreign[*]})}; see its message above"
  fi
  eval "$exports"
  ENGINE=podman
  PULL_POLICY=never # the base images are the local ones CONTAINER_ENV made: no registry is reachable from here
  log "engine: buildah $(buildah --version | awk '{print $3}') + podman $(podman --version | awk '{print $3}') (no Docker engine answers here)"
}

# build_image ARCH IIDFILE [ARGS...]: build the Dockerfile's runtime target for linux/ARCH with ENGINE, write the
# image ID to IIDFILE; ARGS go to the build command (e.g. -t NAME). A build for another architecture than this
# machine's runs under qemu-user and leaves the onnxruntime part of its check to check_image_runtime.
build_image() {
  local arch=$1 iidfile=$2 base_variable
  shift 2
  base_variable=BASE_IMAGE_${arch^^}
  local arguments=(--target runtime --iidfile "$iidfile")
  if [ -n "${!base_variable:-}" ]; then arguments+=(--build-arg "BASE_IMAGE=${!base_variable}"); fi
  if [ "$arch" != "$NATIVE_ARCH" ]; then arguments+=(--build-arg ONNXRUNTIME_CHECK=after-build); fi
  if [ "$ENGINE" = docker ]; then
    docker build --platform "linux/$arch" "${arguments[@]}" "$@" .
  else
    # --format docker keeps HEALTHCHECK (the OCI format has no field for it); --layers caches every step in the
    # container-env state folder, outside the project.
    buildah bud --isolation chroot "--pull=${PULL_POLICY:-never}" --network host --format docker --layers --arch "$arch" \
      "${arguments[@]}" "$@" .
  fi
}

# prepare_emulation ARCH FOLDER: EMULATION_OPTIONS=() natively. For an arm64 container on another machine (run
# by qemu-user), a bind mount of an ARM /proc/cpuinfo written into FOLDER: qemu-user passes the host's x86 one
# through, and onnxruntime's CPU detection crashes on it (SIGSEGV). runc allows this mount (it is how lxcfs works).
prepare_emulation() {
  local arch=$1 folder=$2 cpu
  EMULATION_OPTIONS=()
  [ "$arch" != "$NATIVE_ARCH" ] || return 0
  [ "$arch" = arm64 ] || fail "no emulation set-up for $arch containers"
  for cpu in 0 1; do
    printf 'processor\t: %s\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n\n' "$cpu"
  done >"$folder/cpuinfo"
  chmod a+r "$folder/cpuinfo"
  EMULATION_OPTIONS=(-v "$folder/cpuinfo:/proc/cpuinfo:ro")
}

# check_image_runtime IMAGE: run deploy/container/check_runtime.py with IMAGE's interpreter (EMULATION_OPTIONS
# applied): the whole runtime set imports and computes, onnxruntime included. Fails the script otherwise.
check_image_runtime() {
  local image=$1 output
  if ! output=$("$ENGINE" run --rm -i --network none --no-healthcheck "${EMULATION_OPTIONS[@]}" --entrypoint python \
    "$image" - <deploy/container/check_runtime.py 2>&1); then
    echo "$output" >&2
    fail "the runtime check failed inside the image"
  fi
  grep -q "check_runtime: ok   cifar10-serving" <<<"$output" || { echo "$output" >&2; fail "the runtime check did not reach onnxruntime"; }
  grep "^check_runtime:" <<<"$output" | sed "s/^check_runtime:/$LOG_PREFIX: runtime check in the image:/" >&2
}
