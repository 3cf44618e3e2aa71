"""Helpers for the deployment tests: the project's paths and its Kubernetes / KServe manifests as data."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
EXPORT_DOCKERFILE = PROJECT_ROOT / "deploy" / "container" / "export.Dockerfile"
KUBERNETES_DIR = PROJECT_ROOT / "deploy" / "kubernetes"
KSERVE_DIR = PROJECT_ROOT / "deploy" / "kserve"

Manifest = dict[str, Any]

# The service's resident memory once warmed up, as the pod arithmetic assumes it: measured at ~95 MiB (the
# image, scripts/image-test.sh; RELIABILITY.md), and held under this by tests/reliability/test_cost.py.
RESIDENT_AT_REST_MIB = 128
# Inference batches, answers and onnxruntime's arena on top of that, at most (a batch of 32 is ~4 MiB of
# activations; the cost catalogue's peak per request holds everything but the decode under it).
INFERENCE_WORKING_SET_MIB = 16


def load_manifests(folder: Path) -> list[Manifest]:
    """Every YAML document in the folder's ``*.yaml`` files (kustomization files excluded)."""
    documents: list[Manifest] = []
    for path in sorted(folder.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        documents += [document for document in yaml.safe_load_all(path.read_text()) if document]
    return documents


def one(manifests: list[Manifest], kind: str) -> Manifest:
    """The single manifest of ``kind``."""
    found = [manifest for manifest in manifests if manifest["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def pod_containers(manifest: Manifest) -> list[Manifest]:
    """The containers a Deployment or a KServe ServingRuntime runs."""
    if manifest["kind"] == "Deployment":
        containers: list[Manifest] = manifest["spec"]["template"]["spec"]["containers"]
        return containers
    containers = manifest["spec"]["containers"]
    return containers


def container_env(container: Manifest) -> dict[str, str]:
    """A container's literal environment variables."""
    return {entry["name"]: entry["value"] for entry in container.get("env", []) if "value" in entry}


def probes(container: Manifest) -> Iterator[tuple[str, Manifest]]:
    """``(probe kind, httpGet)`` for each HTTP probe of a container."""
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        if kind in container:
            yield kind, container[kind]["httpGet"]


def resolve_port(container: Manifest, port: int | str) -> int:
    """A probe's or Service's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    by_name = {entry["name"]: entry["containerPort"] for entry in container.get("ports", []) if "name" in entry}
    assert port in by_name, f"port name {port!r} is not one of the container's ports {sorted(by_name)}"
    return int(by_name[port])


def dockerfile_instructions(stage: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of one build stage, line continuations joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions: list[tuple[str, str]] = []
    current: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        keyword, _, arguments = stripped.partition(" ")
        if keyword.upper() == "FROM":
            current = arguments.split(" AS ")[-1].strip() if " AS " in arguments else None
        if current == stage:
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def dockerfile_args(stage: str) -> dict[str, str]:
    """Default values of the stage's ``ARG name=value`` instructions."""
    pairs = [arguments.split("=", 1) for keyword, arguments in dockerfile_instructions(stage) if keyword == "ARG"]
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


def dockerfile_key_values(stage: str, keyword: str) -> dict[str, str]:
    """``KEY=value`` pairs of a stage's ``ENV`` or ``LABEL`` instructions, ``${ARG}`` references resolved."""
    arguments = dockerfile_args(stage)
    pairs: dict[str, str] = {}
    for found, text in dockerfile_instructions(stage):
        if found != keyword:
            continue
        for key, quoted, bare in re.findall(r'([\w.\-]+)=(?:"([^"]*)"|(\S+))', text):
            pairs[key] = re.sub(r"\$\{(\w+)\}", lambda match: arguments.get(match[1], match[0]), quoted or bare)
    return pairs


def project_table() -> Mapping[str, Any]:
    """The ``[project]`` table of pyproject.toml."""
    with (PROJECT_ROOT / "pyproject.toml").open("rb") as file:
        table: Mapping[str, Any] = tomllib.load(file)["project"]
    return table
