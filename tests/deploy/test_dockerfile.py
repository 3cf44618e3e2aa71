"""The Dockerfile and the runtime lock file agree with pyproject.toml and the service (no build needed)."""

from __future__ import annotations

import re

from packaging.requirements import Requirement
from starlette.routing import Route

from service.app import create_app
from service.settings import MODEL_FILES, Settings
from tests.deploy.manifests import (
    DOCKERFILE,
    EXPORT_DOCKERFILE,
    PROJECT_ROOT,
    dockerfile_args,
    dockerfile_instructions,
    dockerfile_key_values,
    project_table,
)
from tests.test_requirements import logical_lines, parse_pin

LOCK_FILE = PROJECT_ROOT / "requirements" / "runtime.lock.txt"
TENSORFLOW_SIDE = frozenset({"tensorflow", "tensorflow-cpu", "tf2onnx", "onnx", "keras", "tf-keras", "matplotlib"})


def locked_pins() -> dict[str, tuple[str, list[str]]]:
    """``name -> (version, hashes)`` from the lock file (platform-conditional pins for other systems left out)."""
    pins: dict[str, tuple[str, list[str]]] = {}
    for line in logical_lines(LOCK_FILE):
        requirement, hashes = parse_pin(line)
        if requirement.marker is None or requirement.marker.evaluate({"sys_platform": "linux"}):
            (specifier,) = requirement.specifier
            pins[_normalize(requirement.name)] = (specifier.version, hashes)
    return pins


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_lock_pins_every_runtime_dependency_at_the_pyproject_version() -> None:
    pins = locked_pins()
    for dependency in project_table()["dependencies"]:
        requirement = Requirement(dependency)
        name = _normalize(requirement.name)
        assert name in pins, f"{name} is missing from {LOCK_FILE.name}"
        assert requirement.specifier.contains(pins[name][0]), f"{name}: lock {pins[name][0]} vs {requirement}"


def test_lock_is_hashed_and_has_no_tensorflow_side() -> None:
    pins = locked_pins()
    assert all(hashes for _, hashes in pins.values()), "every pin needs --hash for pip --require-hashes"
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for _, hashes in pins.values() for digest in hashes)
    assert not TENSORFLOW_SIDE & pins.keys()


def test_runtime_stage_is_last_and_the_stages_chain_only_to_each_other() -> None:
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", DOCKERFILE.read_text(), flags=re.MULTILINE)
    assert stages[-1] == "runtime", "the default build target (the last stage) must be the runtime image"
    assert stages == ["python", "wheels", "rootfs", "runtime"]
    for stage in stages:
        copies_from = re.findall(r"--from=(\S+)", " ".join(text for _, text in dockerfile_instructions(stage)))
        assert set(copies_from) <= set(stages), f"stage {stage} copies from outside the runtime stages"


def test_no_builder_can_reach_tensorflow_from_the_runtime_dockerfile() -> None:
    """The classic Docker builder builds every stage before the target; so TensorFlow lives in another file."""
    for stage in ("python", "wheels", "rootfs", "runtime"):
        for keyword, text in dockerfile_instructions(stage):
            installs = keyword != "LABEL" and any(name in text.lower() for name in ("tensorflow", "tf2onnx", "onnx=="))
            assert not installs, f"{stage}: {keyword} {text[:80]} brings the TensorFlow side into the runtime build"
    export_text = EXPORT_DOCKERFILE.read_text()
    assert "tensorflow-cpu==" in export_text and 'ENTRYPOINT ["python", "-m", "export"]' in export_text
    # The export image pins the same TensorFlow side as pyproject.toml's train extra.
    for pin in re.findall(r"((?:tensorflow-cpu|tf2onnx|onnx)==[\w.]+)", export_text):
        assert pin in project_table()["optional-dependencies"]["train"], f"{pin} differs from the train extra"


def test_runtime_image_settings() -> None:
    instructions = dockerfile_instructions("runtime")
    keywords = {keyword for keyword, _ in instructions}
    assert {"USER", "EXPOSE", "HEALTHCHECK", "STOPSIGNAL", "ENTRYPOINT"} <= keywords
    user = next(text for keyword, text in instructions if keyword == "USER")
    assert user.split(":")[0].isdigit() and user.split(":")[0] != "0", "numeric non-root user (runAsNonRoot)"
    assert next(text for keyword, text in instructions if keyword == "STOPSIGNAL") == "SIGTERM"
    env = dockerfile_key_values("runtime", "ENV")
    assert env["CIFAR10_HOST"] == "0.0.0.0"
    # The image serves INT8 (it wins per core at the same accuracy); the library and `make serve` keep FP32,
    # Keras's exact answers.
    assert env["CIFAR10_MODEL"] == dockerfile_args("runtime")["MODEL"] == "int8"
    assert env["CIFAR10_MODEL"] in MODEL_FILES and Settings().model == "fp32"


def test_healthcheck_probes_a_get_route_of_the_app() -> None:
    healthcheck = next(text for keyword, text in dockerfile_instructions("runtime") if keyword == "HEALTHCHECK")
    paths = re.findall(r"http://127\.0\.0\.1:%s(/[\w/]+)", healthcheck)
    routes = {route.path for route in create_app(Settings()).routes if isinstance(route, Route)}
    assert paths == ["/ready"] and paths[0] in routes
    assert "curl" not in healthcheck and "wget" not in healthcheck


def test_labels_name_the_project() -> None:
    labels = dockerfile_key_values("runtime", "LABEL")
    project = project_table()
    assert labels["org.opencontainers.image.title"] == project["name"]
    assert labels["org.opencontainers.image.version"] == project["version"]
    assert labels["io.cifar10-serving.image-name"] == project["name"]


def test_dockerignore_admits_only_what_the_build_copies() -> None:
    lines = (PROJECT_ROOT / ".dockerignore").read_text().splitlines()
    assert lines[lines.index("*") - 1].startswith("#") or lines[0] == "*", "allow-list: exclude everything first"
    allowed = {line[1:] for line in lines if line.startswith("!")}
    assert {"service/", "requirements/runtime.lock.txt", "models/*.onnx", "pyproject.toml"} <= allowed
    assert not any(entry.startswith((".venv", "tests", "benchmarks")) for entry in allowed)
