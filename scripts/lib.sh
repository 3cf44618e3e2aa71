# shellcheck shell=bash
# Shared by the check scripts (scripts/image-test.sh, scripts/arm64-test.sh); sourced, not run, from the
# project root after the caller's `set -euo pipefail` and `cd`. Provides:
#   EXIT_FAIL=1, EXIT_USAGE=2, EXIT_SKIP=77   the exit codes the tests (tests/deploy) rely on
#   log / fail / skip MESSAGE                 to stderr as "$LOG_PREFIX: ..."; fail and skip exit
#   DATA_ARCHIVE, CIFAR10_CLASSES             the shared CIFAR-10 JPEG archive and its ten class folders
#   extract_test_images FOLDER N              the first N test images of every class into FOLDER
# The caller sets LOG_PREFIX (e.g. image-test) before sourcing.

: "${LOG_PREFIX:?set LOG_PREFIX before sourcing scripts/lib.sh}"

# shellcheck disable=SC2034  # used by the scripts that source this file
readonly EXIT_FAIL=1 EXIT_USAGE=2 EXIT_SKIP=77
# shellcheck disable=SC2034
readonly DATA_ARCHIVE=../shared/data/cifar10-jpeg.tar.gz
readonly CIFAR10_CLASSES=(airplane automobile bird cat deer dog frog horse ship truck)

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
