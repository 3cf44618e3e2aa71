"""``python -m reliability [--quick]``: hostile inputs, the cost of each attack, a bounded soak, overload, SIGTERM
under load and start-up faults against real servers; writes ``reliability.json`` and ``RELIABILITY.md``."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.config import MODELS_DIR, PROJECT_ROOT, add_run_options, settle_destination
from benchmarks.inputs import V2_INFER_PATH, Workload
from benchmarks.machine import describe_machine
from benchmarks.processes import HOST, RunningServer, service_spec
from reliability.catalogue import Limits, build_catalogue, jpeg_request, sample_jpeg, send_catalogue
from reliability.client import HttpRequest, send
from reliability.cost import run_costs
from reliability.faults import broken_models, start_with_models
from reliability.report import checks, render
from reliability.stress import flood, sigterm_under_load, soak
from service.settings import Settings

RESULTS_FILE = "reliability.json"
PUBLISHED_MARKDOWN = PROJECT_ROOT / "RELIABILITY.md"
EXIT_OK = 0
EXIT_FAILED = 1


@dataclass(frozen=True, slots=True)
class Plan:
    """Durations and sizes of one run: minutes of soak in a full run (the defaults), seconds in a quick one."""

    quick: bool = False
    soak_s: float = 180.0
    warm_up_s: float = 10.0
    overload_s: float = 10.0
    overload_clients: int = 64
    sigterm_load_s: float = 3.0
    sigterm_clients: int = 64
    concurrency: int = 64  # the soak's connections
    overload_images: int = 64  # per V2 request in the flood: enough model work per request to fill a small queue
    overload_queue: int = 4


QUICK = Plan(
    True, soak_s=10.0, warm_up_s=2.0, overload_s=3.0, overload_clients=32, sigterm_load_s=1.0, sigterm_clients=32
)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line; ``output`` and ``markdown`` filled in (a new run folder unless published)."""
    parser = argparse.ArgumentParser(prog="python -m reliability", description=__doc__)
    add_run_options(parser, "quick", "a 10 s soak, short floods, a few attacks (about a minute)")
    parser.add_argument("--model", default="fp32", help="fp32, int8 or a path (default fp32)")
    arguments = parser.parse_args(argv)
    mode = "quick" if arguments.quick else "full"
    return settle_destination(parser, arguments, "reliability", mode, published=PUBLISHED_MARKDOWN)


def serving(name: str, model: str, work: Path, environ: Mapping[str, str] | None = None) -> RunningServer:
    """The service on ``model`` logging into ``work``, access log off (under load it would only slow it down)."""
    return RunningServer(service_spec(model, {"CIFAR10_ACCESS_LOG": "false", **(environ or {})}, name=name), work)


def run_hostile(model: str, work: Path) -> dict[str, Any]:
    """The whole catalogue to a server with the catalogue's limits, then one ordinary request."""
    limits = Limits()
    with serving("hostile", model, work, limits.environ()) as server:
        run = send_catalogue(server.port, server.pid, build_catalogue(limits), jpeg_request())
        still_serving = send(HOST, server.port, jpeg_request()).status == 200
    return {"limits": asdict(limits), **run.summary(), "still_serving_after": still_serving}


def run_soak(model: str, work: Path, plan: Plan) -> dict[str, Any]:
    """The bounded soak against a default-configured server."""
    body = work / "soak.jpg"
    body.write_bytes(sample_jpeg(seed=1))
    workload = Workload("soak", "/predict", body, "image/jpeg", "POST /predict, raw 32x32 JPEG body")
    with serving("soak", model, work) as server:
        return soak(server, workload, seconds=plan.soak_s, concurrency=plan.concurrency, warm_up_s=plan.warm_up_s)


def run_overload(model: str, work: Path, plan: Plan) -> dict[str, Any]:
    """Flood a server with a small queue with big V2 requests; then single requests must all succeed."""
    images = np.random.default_rng(0).integers(0, 256, (plan.overload_images, 32, 32, 3), dtype=np.uint8)
    tensor = {"name": "image", "datatype": "UINT8", "shape": list(images.shape)}
    header = json.dumps({"inputs": [{**tensor, "parameters": {"binary_data_size": images.nbytes}}]}).encode()
    headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))}
    big = HttpRequest("POST", V2_INFER_PATH, headers, header + images.tobytes())
    with serving("overload", model, work, {"CIFAR10_MAX_QUEUE": str(plan.overload_queue)}) as server:
        return flood(server.port, big, jpeg_request(), clients=plan.overload_clients, seconds=plan.overload_s)


def run_sigterm(model: str, work: Path, plan: Plan) -> dict[str, Any]:
    """SIGTERM while clients keep sending."""
    with serving("sigterm", model, work) as server:
        return sigterm_under_load(
            server, jpeg_request(), clients=plan.sigterm_clients, load_before_s=plan.sigterm_load_s
        )


def run(model: str, plan: Plan, output: Path) -> dict[str, Any]:
    """Every section, each against servers of its own, with the machine and the plan: the results, JSON-ready."""
    work = output / "tmp" / "reliability"  # under benchmarks/results/tmp (ignored) when published
    work.mkdir(parents=True, exist_ok=True)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    started = time.monotonic()
    real_model = Settings(model=model, models_dir=MODELS_DIR).model_path  # the broken models are made from it
    sections: dict[str, Callable[[], Any]] = {
        "hostile_inputs": lambda: run_hostile(model, work),
        "cost": lambda: run_costs(model, work, quick=plan.quick),
        "startup_faults": lambda: start_with_models(broken_models(work / "broken", real_model), work),
        "overload": lambda: run_overload(model, work, plan),
        "sigterm": lambda: run_sigterm(model, work, plan),
        "soak": lambda: run_soak(model, work, plan),
    }
    results: dict[str, Any] = {"quick": plan.quick, "plan": asdict(plan), "uptime": uptime}
    results |= {"machine": describe_machine(), "model": model}
    for name, section in sections.items():
        print(f"reliability: {name} ...", file=sys.stderr, flush=True)
        results[name] = section()
    results["seconds"] = round(time.monotonic() - started, 1)
    return {**results, "all_passed": all(checks(results).values())}


def main(argv: Sequence[str] | None = None) -> int:
    """Run every section (unless ``--report-only``), write the JSON and the report; exit 1 if a check failed."""
    arguments = parse_args(argv)
    results_file = arguments.output / RESULTS_FILE
    if not arguments.report_only:
        results = run(arguments.model, QUICK if arguments.quick else Plan(), arguments.output)
        results_file.write_text(json.dumps(results, indent=2) + "\n")
    results = json.loads(results_file.read_text())  # rendered as the JSON holds it, as --report-only will
    arguments.markdown.write_text(render(results))
    if arguments.report_only:
        return EXIT_OK
    verdict = "all checks passed" if results["all_passed"] else "SOME CHECKS FAILED"
    wrote = f"wrote {results_file} and {arguments.markdown}"
    print(f"reliability: {verdict} in {results['seconds']} s; {wrote}", file=sys.stderr)
    return EXIT_OK if results["all_passed"] else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
