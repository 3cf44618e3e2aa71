"""The Kubernetes and KServe manifests agree with the application, its settings and the image."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path

import onnxruntime as ort
import pytest
import yaml
from starlette.routing import Route
from starlette.testclient import TestClient

from service.app import create_app
from service.settings import Settings, env_name
from tests.deploy.manifests import (
    INFERENCE_WORKING_SET_MIB,
    KSERVE_DIR,
    KUBERNETES_DIR,
    PROJECT_ROOT,
    RESIDENT_AT_REST_MIB,
    Manifest,
    container_env,
    dockerfile_args,
    dockerfile_instructions,
    dockerfile_key_values,
    load_manifests,
    one,
    pod_containers,
    probes,
    resolve_port,
)

KUBERNETES = load_manifests(KUBERNETES_DIR)
KSERVE = load_manifests(KSERVE_DIR)
DEPLOYMENT = one(KUBERNETES, "Deployment")
SERVING_RUNTIME = one(KSERVE, "ServingRuntime")
INFERENCE_SERVICE = one(KSERVE, "InferenceService")
# Every container that runs the image, with where it comes from.
CONTAINERS = {
    "Deployment": pod_containers(DEPLOYMENT)[0],
    "ServingRuntime": pod_containers(SERVING_RUNTIME)[0],
}
SETTINGS_ENV_NAMES = frozenset(env_name(field.name) for field in dataclasses.fields(Settings))
# Variables the image reads that are not service settings.
OTHER_ENV_NAMES = frozenset({"ORT_DISABLE_TELEMETRY", "PYTHONUNBUFFERED"})


def app_get_routes() -> set[str]:
    """Paths the app answers with GET."""
    app = create_app(Settings())
    return {route.path for route in app.routes if isinstance(route, Route) and "GET" in (route.methods or ())}


def test_every_manifest_has_kind_and_name() -> None:
    for manifest in [*KUBERNETES, *KSERVE]:
        assert manifest["apiVersion"] and manifest["kind"], manifest
        assert manifest["metadata"]["name"], manifest


@pytest.mark.parametrize("source", sorted(CONTAINERS))
def test_probe_paths_are_get_routes_of_the_app(source: str) -> None:
    routes = app_get_routes()
    container = CONTAINERS[source]
    found = dict(probes(container))
    assert {"readinessProbe", "livenessProbe"} <= found.keys(), f"{source}: readiness and liveness probes needed"
    for kind, http_get in found.items():
        assert http_get["path"] in routes, f"{source} {kind} path {http_get['path']} is not a GET route"


@pytest.mark.parametrize("source", sorted(CONTAINERS))
def test_readiness_probes_the_readiness_endpoint(source: str) -> None:
    # Liveness must not wait for the model (a slow load would restart the pod); readiness must.
    readiness = CONTAINERS[source]["readinessProbe"]["httpGet"]["path"]
    assert readiness in {"/ready", "/v2/health/ready"}


@pytest.mark.parametrize("source", sorted(CONTAINERS))
def test_ports_match_the_settings(source: str) -> None:
    container = CONTAINERS[source]
    settings = Settings.from_environ(container_env(container))
    assert [port["containerPort"] for port in container["ports"]] == [settings.port]
    for kind, http_get in probes(container):
        assert resolve_port(container, http_get["port"]) == settings.port, f"{source} {kind} probes another port"
    assert settings.host == "0.0.0.0", f"{source}: the service must listen on all interfaces in a pod"


def test_service_targets_the_container_port() -> None:
    service = one(KUBERNETES, "Service")
    container = CONTAINERS["Deployment"]
    for port in service["spec"]["ports"]:
        assert resolve_port(container, port["targetPort"]) == Settings.from_environ(container_env(container)).port


def test_image_port_is_the_settings_default() -> None:
    exposed = [arguments for keyword, arguments in dockerfile_instructions("runtime") if keyword == "EXPOSE"]
    assert exposed == [str(Settings().port)]
    assert dockerfile_key_values("runtime", "ENV")["CIFAR10_PORT"] == str(Settings().port)


@pytest.mark.parametrize("source", sorted(CONTAINERS))
def test_env_names_exist_in_the_settings_and_values_parse(source: str) -> None:
    env = container_env(CONTAINERS[source])
    unknown = {name for name in env if name not in SETTINGS_ENV_NAMES | OTHER_ENV_NAMES}
    assert not unknown, f"{source} sets variables the service does not read: {sorted(unknown)}"
    settings = Settings.from_environ(env)  # raises SettingsError on a bad value
    assert settings.model in {"fp32", "int8"}


def test_image_env_names_exist_in_the_settings() -> None:
    env = dockerfile_key_values("runtime", "ENV")
    cifar10 = {name for name in env if name.startswith("CIFAR10_")}
    assert cifar10, "the image sets no CIFAR10_* variables"
    assert cifar10 <= SETTINGS_ENV_NAMES, f"unknown: {sorted(cifar10 - SETTINGS_ENV_NAMES)}"
    Settings.from_environ({name: env[name] for name in cifar10})


@pytest.mark.parametrize("source", sorted(CONTAINERS))
def test_image_names_match_the_dockerfile_labels(source: str) -> None:
    labels = dockerfile_key_values("runtime", "LABEL")
    repository, _, tag = CONTAINERS[source]["image"].rpartition(":")
    assert repository.rsplit("/", 1)[-1] == labels["io.cifar10-serving.image-name"]
    assert tag == labels["org.opencontainers.image.version"] == dockerfile_args("runtime")["VERSION"]
    assert labels["org.opencontainers.image.ref.name"] == CONTAINERS[source]["image"]


def test_kustomize_image_override_names_the_image() -> None:
    kustomization = yaml.safe_load((KUBERNETES_DIR / "kustomization.yaml").read_text())
    names = {entry["name"]: entry.get("newTag") for entry in kustomization["images"]}
    repository, _, tag = CONTAINERS["Deployment"]["image"].rpartition(":")
    assert names == {repository: tag}
    listed = {Path(resource).name for resource in kustomization["resources"]}
    assert listed == {path.name for path in KUBERNETES_DIR.glob("*.yaml")} - {"kustomization.yaml"}


@pytest.mark.parametrize("source", sorted(CONTAINERS))
def test_resources_are_requested_and_limited(source: str) -> None:
    resources = CONTAINERS[source]["resources"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= resources[kind].keys(), f"{source}: {kind} needs cpu and memory"
    assert _mebibytes(resources["limits"]["memory"]) >= _mebibytes(resources["requests"]["memory"])
    # Measured by scripts/image-test.sh: ~95 MiB resident in steady state, ~145 MiB peak on large uploads.
    assert _mebibytes(resources["requests"]["memory"]) >= 128
    assert _mebibytes(resources["limits"]["memory"]) >= 256


@pytest.mark.parametrize("source", sorted(CONTAINERS))
def test_container_runs_as_the_image_user(source: str) -> None:
    image_user = next(arguments for keyword, arguments in dockerfile_instructions("runtime") if keyword == "USER")
    context = {**_pod_security_context(source), **CONTAINERS[source].get("securityContext", {})}
    assert context["runAsNonRoot"] is True
    assert str(context["runAsUser"]) == image_user.split(":")[0]
    assert context["allowPrivilegeEscalation"] is False


def test_selectors_match_the_pod_labels() -> None:
    pod_labels = DEPLOYMENT["spec"]["template"]["metadata"]["labels"]
    selectors = {
        "Deployment": DEPLOYMENT["spec"]["selector"]["matchLabels"],
        "Service": one(KUBERNETES, "Service")["spec"]["selector"],
        "PodDisruptionBudget": one(KUBERNETES, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
    }
    for kind, selector in selectors.items():
        assert selector.items() <= pod_labels.items(), f"{kind} selector {selector} does not match {pod_labels}"


def test_autoscaler_scales_the_deployment_on_cpu() -> None:
    hpa = one(KUBERNETES, "HorizontalPodAutoscaler")
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", DEPLOYMENT["metadata"]["name"])
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    assert [metric["resource"]["name"] for metric in hpa["spec"]["metrics"]] == ["cpu"]
    budget = one(KUBERNETES, "PodDisruptionBudget")["spec"]["minAvailable"]
    assert budget < hpa["spec"]["minReplicas"], "the budget must leave room to evict a pod at minimum scale"


def test_grace_period_outlasts_the_drain() -> None:
    settings = Settings.from_environ(container_env(CONTAINERS["Deployment"]))
    pre_stop = CONTAINERS["Deployment"]["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    stopping = float(pre_stop[1]) + settings.drain_s + settings.shutdown_timeout_s
    assert DEPLOYMENT["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > stopping


@pytest.mark.parametrize("source", sorted(CONTAINERS))
def test_the_worst_case_memory_the_settings_admit_fits_the_pod_limit(source: str) -> None:
    """Every admitted request at its worst at once: the bodies' budget full, every decode thread decoding an
    image at the decode budget, on top of the resident memory at rest, in every worker process."""
    container = CONTAINERS[source]
    settings = Settings.from_environ(container_env(container))
    # One decode thread per CPU the pod may use: its CPU limit caps them (service.decoding.available_cpus).
    decode_threads = settings.decode_workers or math.ceil(_cpus(container["resources"]["limits"]["cpu"]))
    per_worker = (
        RESIDENT_AT_REST_MIB
        + INFERENCE_WORKING_SET_MIB
        + settings.max_body_memory_bytes / 2**20
        + decode_threads * settings.max_decode_bytes / 2**20
    )
    worst = settings.workers * per_worker
    limit = _mebibytes(container["resources"]["limits"]["memory"])
    assert worst <= limit, f"{source}: the settings admit {worst:.0f} MiB at worst, the pod may use {limit:.0f} MiB"


def test_inference_service_uses_the_v2_runtime() -> None:
    model = INFERENCE_SERVICE["spec"]["predictor"]["model"]
    assert model["protocolVersion"] == "v2"
    assert "v2" in SERVING_RUNTIME["spec"]["protocolVersions"]
    assert model["runtime"] == SERVING_RUNTIME["metadata"]["name"]
    formats = {entry["name"] for entry in SERVING_RUNTIME["spec"]["supportedModelFormats"]}
    assert model["modelFormat"]["name"] in formats


def test_inference_service_is_named_after_the_served_model() -> None:
    # KServe routes /v2/models/<InferenceService name>/infer; the service answers for the ONNX model's name.
    session = ort.InferenceSession(
        str(PROJECT_ROOT / "models" / "cifar10_cnn.onnx"), providers=["CPUExecutionProvider"]
    )
    assert INFERENCE_SERVICE["metadata"]["name"] == session.get_modelmeta().custom_metadata_map["model_name"]


@pytest.mark.parametrize("source", sorted(CONTAINERS))
def test_probes_answer_on_the_started_app(source: str, tiny_model_path: Path) -> None:
    """Start the app with the manifest's own settings (tiny model): every probe path answers 200."""
    settings = Settings.from_environ(container_env(CONTAINERS[source])).with_overrides(
        model=str(tiny_model_path), access_log=False
    )
    with TestClient(create_app(settings)) as client:
        for kind, http_get in probes(CONTAINERS[source]):
            response = client.get(http_get["path"])
            assert response.status_code == 200, f"{source} {kind} {http_get['path']}: {response.status_code}"


@pytest.mark.parametrize("source", sorted(CONTAINERS))
def test_pods_schedule_only_on_the_architectures_the_image_is_built_for(source: str) -> None:
    pod = DEPLOYMENT["spec"]["template"]["spec"] if source == "Deployment" else SERVING_RUNTIME["spec"]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    (term,) = terms
    (expression,) = [entry for entry in term["matchExpressions"] if entry["key"] == "kubernetes.io/arch"]
    assert expression["operator"] == "In"
    assert sorted(expression["values"]) == sorted(multiarch_architectures())


def multiarch_architectures() -> list[str]:
    """The architectures scripts/multiarch.sh builds and lists under the one image name."""
    found = re.search(r"^readonly ARCHES=\(([^)]*)\)", (PROJECT_ROOT / "scripts" / "multiarch.sh").read_text(), re.M)
    assert found, "scripts/multiarch.sh has no ARCHES=(...) line"
    return found[1].split()


def _pod_security_context(source: str) -> Manifest:
    if source == "Deployment":
        context: Manifest = DEPLOYMENT["spec"]["template"]["spec"].get("securityContext", {})
        return context
    return {}


def _cpus(quantity: str | int | float) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "K": 1e3 / 2**20, "M": 1e6 / 2**20, "G": 1e9 / 2**20}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * factor
    return float(quantity) / 2**20
