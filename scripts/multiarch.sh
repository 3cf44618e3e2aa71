#!/usr/bin/env bash
# One name for both architectures: build the runtime image for linux/amd64 and linux/arm64 with
# scripts/image-test.sh (each with its runtime check and size limit; arm64 under qemu-user on an x86 machine),
# put both under one manifest list, and prove that a plain pull on either architecture gets its own image: the
# list is pushed to a throwaway local registry and pulled back once per architecture.
#
#   bash scripts/multiarch.sh           # both images + the list, kept (make image-multiarch)
#   bash scripts/multiarch.sh --check   # also the arm64 image run for real (image-test.sh --arch arm64, every
#                                       # check) and the same answers as amd64 on 100 real test images, FP32 and
#                                       # INT8; the list is removed again at the end (make arm64-test, the tests)
#
# buildah + podman whatever docker there is: the list is made with `podman manifest` (the classic Docker image
# store keeps one architecture per tag; with Docker use `docker buildx build --platform linux/amd64,linux/arm64
# --push`, see deploy/README.md). The registry is Debian's docker-registry (Distribution 2.8), unpacked into
# REGISTRY_CACHE (default ~/.cache/cifar10-serving/registry), never installed as a service.
# Environment: MULTIARCH_IMAGE (the list's name; default the image's org.opencontainers.image.ref.name label,
# cifar10-serving:1.0.0, or cifar10-serving:multiarch-check with --check), REGISTRY_CACHE.
# Exit codes: 0 passed, 1 a check failed, 2 usage, 77 container tooling, emulation or the registry unavailable.
set -euo pipefail
cd "$(dirname "$0")/.."

readonly LOG_PREFIX=multiarch
# shellcheck source-path=SCRIPTDIR/..
source scripts/lib.sh

readonly ARCHES=(amd64 arm64)
readonly REGISTRY_CACHE=${REGISTRY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cifar10-serving/registry}
readonly PARITY_IMAGES_PER_CLASS=10 # 100 images
readonly MAX_PROBABILITY_DIFFERENCE=1e-5

check=0
case "${1:-}" in
  "") ;;
  --check) check=1 ;;
  *) echo "usage: $0 [--check]" >&2; exit "$EXIT_USAGE" ;;
esac
(($# <= 1)) || { echo "usage: $0 [--check]" >&2; exit "$EXIT_USAGE"; }
[ -n "$NATIVE_ARCH" ] || skip "this machine's architecture ($(uname -m)) is neither amd64 nor arm64"
python_bin=$(command -v python3 || true)
[ -n "$python_bin" ] || skip "no python3 on this machine to drive the checks"

export CONTAINER_ENGINE=podman # for scripts/image-test.sh too: the list and its images live in podman's storage
use_container_engine "${ARCHES[@]}"

work=$(mktemp -d)
registry_pid=""
list=""
pulled=()
cleanup() {
  local reference
  if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; fi
  for reference in "${pulled[@]}"; do podman untag "$reference" >/dev/null 2>&1 || true; done
  # podman 4.3 cannot list a local manifest list (`podman images` errors on it): a check leaves none behind.
  if ((check)) && [ -n "$list" ]; then podman manifest rm "$list" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- both images, each built and checked by scripts/image-test.sh ----------------------------------------------
declare -A image_id
for arch in "${ARCHES[@]}"; do
  arguments=(--arch "$arch")
  # With --check the emulated image gets every check; the native image's full run is tests/deploy/test_image.py's
  # job (make image-test), here it is the reference.
  if ! ((check)) || [ "$arch" = "$NATIVE_ARCH" ]; then arguments+=(--build-only); fi
  start=$SECONDS
  status=0
  IIDFILE=$work/$arch.iid bash scripts/image-test.sh "${arguments[@]}" || status=$?
  ((status == 0)) || { ((status == EXIT_SKIP)) && exit "$EXIT_SKIP"; fail "scripts/image-test.sh ${arguments[*]} failed ($status)"; }
  image_id[$arch]=$(sed 's/^sha256://' "$work/$arch.iid")
  log "ok   linux/$arch image ${image_id[$arch]:0:12}: scripts/image-test.sh ${arguments[*]} passed in $((SECONDS - start)) s"
done

# --- the same answers on both architectures ------------------------------------------------------------------
if ((check)); then
  [ -f "$DATA_ARCHIVE" ] || skip "the CIFAR-10 archive $DATA_ARCHIVE is not here (needed for the answer comparison)"
  start=$SECONDS
  extract_test_images "$work/images" "$PARITY_IMAGES_PER_CLASS"
  chmod -R a+rX "$work/images"
  for model in fp32 int8; do
    for arch in "${ARCHES[@]}"; do
      mkdir -p "$work/$arch"
      prepare_emulation "$arch" "$work/$arch"
      podman run --rm --network none --no-healthcheck "${EMULATION_OPTIONS[@]}" -v "$work/images:/data:ro" \
        --entrypoint cifar10-predict "${image_id[$arch]}" /data --format jsonl --no-progress --model "$model" \
        >"$work/$arch-$model.jsonl" 2>"$work/offline.log" \
        || { cat "$work/offline.log" >&2; fail "cifar10-predict ($model) failed in the linux/$arch image"; }
    done
    summary=$("$python_bin" - "$work/amd64-$model.jsonl" "$work/arm64-$model.jsonl" "$MAX_PROBABILITY_DIFFERENCE" <<'PY'
import json
import sys

amd64, arm64 = ([json.loads(line) for line in open(path)] for path in sys.argv[1:3])
if not (len(amd64) == len(arm64) == 100):
    sys.exit(f"expected 100 answers from each image, got amd64 {len(amd64)}, arm64 {len(arm64)}")
amd64_by_path = {row["path"]: row for row in amd64}
worst, agree = 0.0, 0
for row in arm64:
    reference = amd64_by_path[row["path"]]
    agree += row["label"] == reference["label"]
    worst = max(worst, *(abs(row["probabilities"][k] - reference["probabilities"][k]) for k in reference["probabilities"]))
print(f"{agree}/{len(arm64)} same label, max |dp| {worst:.1e}")
sys.exit(0 if agree == len(arm64) and worst <= float(sys.argv[3]) else 1)
PY
) || fail "linux/arm64 and linux/amd64 answers differ ($model): $summary"
    log "ok   cifar10-predict ($model) on 100 real test images, arm64 image vs amd64 image: $summary"
  done
  log "answer comparison in $((SECONDS - start)) s"
fi

# --- one name: the manifest list -----------------------------------------------------------------------------
if ((check)); then
  list=${MULTIARCH_IMAGE:-localhost/cifar10-serving:multiarch-check}
else
  list=${MULTIARCH_IMAGE:-$(podman image inspect --format '{{index .Config.Labels "org.opencontainers.image.ref.name"}}' "${image_id[amd64]}")}
fi
if podman manifest exists "$list" 2>/dev/null; then
  podman manifest rm "$list" >/dev/null
elif podman image exists "$list"; then
  log "untagging the single-architecture image $list, to give the name to the list"
  podman untag "$(podman image inspect --format '{{.Id}}' "$list")" "$list"
fi
podman manifest create "$list" >/dev/null
podman manifest add --os linux --arch amd64 "$list" "containers-storage:${image_id[amd64]}" >/dev/null
podman manifest add --os linux --arch arm64 --variant v8 "$list" "containers-storage:${image_id[arm64]}" >/dev/null
# Each entry must be a manifest of the image built for its platform (an image can have several manifests, e.g.
# once pushed with compressed layers, so the entry is looked up among the image's digests).
podman manifest inspect "$list" | "$python_bin" -c '
import json, sys
listed = {(m["platform"]["os"], m["platform"]["architecture"]): m["digest"] for m in json.load(sys.stdin)["manifests"]}
known = {arch: {ref.rpartition("@")[2] for ref in json.loads(refs)} for arch, refs in zip(("amd64", "arm64"), sys.argv[1:])}
if sorted(listed) != [("linux", "amd64"), ("linux", "arm64")]:
    sys.exit(f"the list holds {sorted(listed)}, expected linux/amd64 and linux/arm64")
for (_, arch), digest in listed.items():
    if digest not in known[arch]:
        sys.exit(f"the linux/{arch} entry {digest} is not a manifest of the {arch} image")
print(" and ".join(f"linux/{arch} {digest[7:19]}" for (_, arch), digest in sorted(listed.items())))
' "$(podman image inspect --format '{{json .RepoDigests}}' "${image_id[amd64]}")" \
  "$(podman image inspect --format '{{json .RepoDigests}}' "${image_id[arm64]}")" >"$work/listed" \
  || fail "the manifest list $list does not hold exactly the two images"
log "ok   $list lists $(cat "$work/listed") (arm64 as variant v8)"

# --- a plain pull on either architecture gets its own image: push the list to a local registry, pull it back ------
# registry_binary: the path of a Distribution registry, Debian's docker-registry unpacked into REGISTRY_CACHE
# (apt-get download: no install, no service) when none is on PATH; fails when it cannot be had.
registry_binary() {
  local debs
  if command -v docker-registry; then return 0; fi
  if [ ! -x "$REGISTRY_CACHE/usr/bin/docker-registry" ]; then
    log "unpacking Debian's docker-registry into $REGISTRY_CACHE (apt-get download, no install)"
    mkdir -p "$REGISTRY_CACHE/debs"
    (cd "$REGISTRY_CACHE/debs" && apt-get download docker-registry >/dev/null 2>&1) \
      || { [ "$(id -u)" = 0 ] && apt-get update -q >/dev/null 2>&1 \
        && (cd "$REGISTRY_CACHE/debs" && apt-get download docker-registry >/dev/null 2>&1); } \
      || return 1
    debs=("$REGISTRY_CACHE"/debs/docker-registry_*.deb)
    dpkg-deb -x "${debs[-1]}" "$REGISTRY_CACHE" || return 1
  fi
  echo "$REGISTRY_CACHE/usr/bin/docker-registry"
}
# The list's name without its registry host (localhost/cifar10-serving:1.0.0 -> cifar10-serving:1.0.0).
repository=$list
first=${list%%/*}
if [[ "$list" == */* && ("$first" == *.* || "$first" == *:* || "$first" == localhost) ]]; then repository=${list#*/}; fi
if ! registry=$(registry_binary); then
  ((check)) && skip "no docker-registry to prove the pulls with (apt-get download docker-registry failed)"
  log "NOT PROVEN: a pull per architecture (no docker-registry: apt-get download docker-registry failed)"
  log "$list = linux/amd64 ${image_id[amd64]:0:12} + linux/arm64 ${image_id[arm64]:0:12}"
  exit 0
fi
port=$("$python_bin" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\n' \
  "$work/registry" "$port" >"$work/registry.yml"
"$registry" serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 1 50); do
  "$python_bin" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/v2/', timeout=1)" 2>/dev/null && break
  kill -0 "$registry_pid" 2>/dev/null || { cat "$work/registry.log" >&2; fail "the local registry did not start"; }
  sleep 0.2
done
remote=127.0.0.1:$port/$repository
podman manifest push --all --tls-verify=false --quiet "$list" "docker://$remote" >&2 || fail "podman manifest push to the local registry failed"
pulled+=("$remote")
for arch in "${ARCHES[@]}"; do
  got=$(podman pull -q --tls-verify=false --arch "$arch" "$remote" 2>/dev/null) || fail "podman pull --arch $arch $remote failed"
  [ "$got" = "${image_id[$arch]}" ] || fail "a pull for linux/$arch got ${got:0:12}, not the $arch image ${image_id[$arch]:0:12}"
  log "ok   pull of $remote on linux/$arch gets the $arch image (${got:0:12})"
done
got=$(podman pull -q --tls-verify=false "$remote" 2>/dev/null) || fail "podman pull $remote failed"
[ "$got" = "${image_id[$NATIVE_ARCH]}" ] || fail "a plain pull on this $NATIVE_ARCH machine got ${got:0:12}"
log "ok   plain pull (no --arch) on this $NATIVE_ARCH machine gets the $NATIVE_ARCH image"

if ((check)); then
  log "PASSED (linux/amd64 + linux/arm64 under one name; arm64 run under qemu-user)"
else
  log "PASSED: $list = linux/amd64 ${image_id[amd64]:0:12} + linux/arm64 ${image_id[arm64]:0:12}"
  log "publish it with: podman manifest push --all $list docker://REGISTRY/$repository"
  log "(podman 4.3 cannot list a local manifest list: \`podman images\` errors while it exists; \`podman manifest rm $list\` removes it)"
fi
