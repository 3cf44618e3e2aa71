"""In-process latency and throughput: TensorFlow's three call styles against onnxruntime FP32 and INT8."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from statistics import median
from typing import Any

import numpy as np
from numpy.typing import NDArray

from benchmarks.config import BenchPlan
from benchmarks.context import BenchContext, Progress
from benchmarks.inputs import pixel_batch
from benchmarks.stats import ratio, summarize_latencies
from service.pipeline import session_config
from service.runtime import OnnxModel
from service.settings import MODEL_FILES, Settings
from training.data import portable_source

MAX_CALLS_PER_MEASUREMENT = 20_000
WARMUP_CALLS = 3


@dataclass(frozen=True)
class Runner:
    """One way of running the model: a preparation step (not timed) and the timed call."""

    name: str
    runtime: str  # "tensorflow" or "onnxruntime"
    prepare: Callable[[NDArray[np.uint8]], Any]
    call: Callable[[Any], np.ndarray]


def time_calls(call: Callable[[Any], object], inputs: Any, seconds: float, min_calls: int) -> list[float]:
    """Per-call latencies (seconds) of calling `call(inputs)` for about `seconds`, at least `min_calls` times."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(latencies) < MAX_CALLS_PER_MEASUREMENT:
        started = time.perf_counter()
        call(inputs)
        finished = time.perf_counter()
        latencies.append(finished - started)
        if finished >= deadline and len(latencies) >= min_calls:
            break
    return latencies


def build_runners(plan: BenchPlan, progress: Progress) -> tuple[list[Runner], dict[str, str]]:
    """The runners this machine can run, and notes on what was skipped or how sessions were configured."""
    runners: list[Runner] = []
    notes: dict[str, str] = {}
    # The service's own loader with its default settings (only the thread count set): this measures what it runs.
    config = session_config(Settings().with_overrides(intra_op_threads=plan.threads))
    for precision, filename in MODEL_FILES.items():
        path = plan.models_dir / filename
        if not path.is_file():
            notes[f"onnx_{precision}"] = f"skipped: {path} not found"
            continue
        notes["onnx_session_options"] = "service.runtime.OnnxModel with the default service.settings.Settings"
        # onnxruntime takes the raw uint8 batch: nothing to prepare.
        runners.append(Runner(f"onnx_{precision}", "onnxruntime", np.asarray, OnnxModel.load(path, config).predict))
    if plan.keras_model is None:
        notes["tensorflow"] = "skipped: no Keras checkpoint (models/best_model.keras) found"
        return runners, notes
    progress("inprocess", f"loading {plan.keras_model} with TensorFlow ({plan.threads} threads)")
    from benchmarks.tf_service import load_keras_model, tensorflow_runners

    model = load_keras_model(plan.keras_model, plan.threads)
    runners += [Runner(name, "tensorflow", *calls) for name, calls in tensorflow_runners(model).items()]
    return runners, notes


def agreement(runners: list[Runner], batch: NDArray[np.uint8]) -> dict[str, float]:
    """Top-1 agreement and largest probability difference of every runner against the first one."""
    outputs = [runner.call(runner.prepare(batch)) for runner in runners]
    result: dict[str, float] = {}
    for runner, output in zip(runners[1:], outputs[1:], strict=True):
        result[f"{runner.name}_top1_agreement"] = float(np.mean(output.argmax(1) == outputs[0].argmax(1)))
        result[f"{runner.name}_max_abs_diff"] = float(np.max(np.abs(output - outputs[0])))
    return result


def run(context: BenchContext) -> dict[str, Any]:
    """Measure every runner at every batch size, alternating runners round by round so noise hits all of them."""
    plan, images, progress = context.plan, context.images, context.progress
    runners, notes = build_runners(plan, progress)
    rows: list[dict[str, Any]] = []
    for batch_size in plan.batch_sizes:
        batch = pixel_batch(images, batch_size)
        prepared = {runner.name: runner.prepare(batch) for runner in runners}
        for runner in runners:
            for _ in range(WARMUP_CALLS):
                runner.call(prepared[runner.name])
        samples: dict[str, list[float]] = {runner.name: [] for runner in runners}
        round_p50: dict[str, list[float]] = {runner.name: [] for runner in runners}
        for round_index in range(plan.inprocess_rounds):
            shift = round_index % max(len(runners), 1)
            for runner in runners[shift:] + runners[:shift]:
                seconds, min_calls = plan.inprocess_seconds_per_measurement, plan.inprocess_min_calls
                latencies = time_calls(runner.call, prepared[runner.name], seconds, min_calls)
                samples[runner.name].extend(latencies)
                round_p50[runner.name].append(median(latencies) * 1e3)
            progress("inprocess", f"batch {batch_size}: round {round_index + 1}/{plan.inprocess_rounds} done")
        rows += [
            {
                "runner": runner.name,
                "runtime": runner.runtime,
                "batch_size": batch_size,
                **summarize_latencies(samples[runner.name], items_per_call=batch_size),
                "round_p50_ms": round_p50[runner.name],
            }
            for runner in runners
        ]
        line = ", ".join(f"{row['runner']} {row['p50_ms']:.3f} ms" for row in rows if row["batch_size"] == batch_size)
        progress("inprocess", f"batch {batch_size} p50: {line}")
    return {
        "threads": plan.threads,
        "thread_note": (
            f"{plan.threads} intra-op thread(s) for both runtimes; TensorFlow inter-op pool {plan.threads}; "
            "onnxruntime sequential executor (inter-op 1)"
        ),
        "keras_model": portable_source(plan.keras_model.resolve()) if plan.keras_model else None,
        "runners": [runner.name for runner in runners],
        "notes": notes,
        "agreement_vs_first_runner": agreement(runners, pixel_batch(images, max(len(images), 8))),
        "rows": rows,
        "speedups_p50": speedups(rows),
    }


def speedups(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each batch size, how many times faster (p50) each onnxruntime runner is than each TensorFlow runner."""
    by_key = {(row["runner"], row["batch_size"]): row for row in rows}
    return [
        {
            "onnx": name,
            "tensorflow": baseline,
            "batch_size": batch_size,
            "p50_speedup": ratio(other["p50_ms"], row["p50_ms"]),
            "throughput_ratio": ratio(row["items_per_s"], other["items_per_s"]),
        }
        for (name, batch_size), row in by_key.items()
        if name.startswith("onnx_")
        for (baseline, other_batch), other in by_key.items()
        if baseline.startswith("tf_") and other_batch == batch_size
    ]
