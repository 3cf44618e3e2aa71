"""Python right after onnxruntime on the same core: what the rest of a request pays for sharing a core with the model.

A fixed piece of pure-Python work (dict stores, about 0.1 ms) is timed back to back, and right after each of a few
other things on the same core: an onnxruntime batch-1 call (FP32, INT8), copying 8 MB (memory traffic, no vector
arithmetic) and 3 ms of sleep (an idle core). Then the cause is tested apart from onnxruntime: numpy's OpenBLAS
runs the same 0.3 ms of float32 matrix products with its AVX-512 kernels and with its AVX2 ones (a subprocess each,
``OPENBLAS_CORETYPE``), each followed by the same Python work. Interleaved rounds, medians; the thread is pinned to
one server CPU so the work and what precedes it share a core.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from statistics import median
from typing import Any, Final

import numpy as np

from benchmarks.config import PROJECT_ROOT
from benchmarks.context import BenchContext
from benchmarks.inputs import pixel_batch
from benchmarks.processes import pinned
from service.pipeline import session_config
from service.runtime import OnnxModel
from service.settings import MODEL_FILES, Settings

WORK_STORES: Final = 2_000  # dict stores in the timed Python work
COPY_BYTES: Final = 8_000_000
IDLE_S: Final = 0.003
BLAS_SECONDS: Final = 0.0003  # of matrix products before each timed work in the OpenBLAS probe
BLAS_KERNELS: Final = {"avx512": "SkylakeX", "avx2": "Haswell"}  # OPENBLAS_CORETYPE values


def python_work() -> float:
    """Seconds for a fixed piece of pure-Python work: the kind a request's parsing and answering is made of."""
    started = time.perf_counter()
    table: dict[int, int] = {}
    for i in range(WORK_STORES):
        table[i & 255] = i * 3
    return time.perf_counter() - started


def measure(before: dict[str, Callable[[], object]], rounds: int, repeats: int) -> dict[str, list[float]]:
    """Per condition, the median µs of `python_work` right after `before[condition]()` in each round; conditions
    take turns round by round, starting one later each round."""
    names = list(before)
    medians: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            samples = []
            for _ in range(repeats):
                before[name]()
                samples.append(python_work())
            medians[name].append(median(samples) * 1e6)
    return medians


@contextmanager
def pinned_thread(cpu: int) -> Iterator[None]:
    """This thread on one CPU for the block (the process's other threads keep theirs)."""
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, previous)


def run(context: BenchContext) -> dict[str, Any]:
    """The Python work after each condition, and the OpenBLAS probe (when the CPU has AVX-512)."""
    plan, cpu = context.plan, context.server_cpus[0]
    rounds, repeats = plan.sharing_rounds, plan.sharing_repeats
    batch = pixel_batch(context.images, 1)
    config = session_config(Settings().with_overrides(intra_op_threads=1))
    source, target = bytearray(COPY_BYTES), bytearray(COPY_BYTES)

    def copy() -> None:
        target[:] = source

    before: dict[str, Callable[[], object]] = {"back to back": lambda: None}
    for precision, filename in MODEL_FILES.items():
        if (plan.models_dir / filename).is_file():
            model = OnnxModel.load(plan.models_dir / filename, config)
            before[f"after onnxruntime {precision.upper()}, batch 1"] = partial(model.predict, batch)
    before |= {f"after copying {COPY_BYTES // 1_000_000} MB": copy, f"after {IDLE_S * 1e3:g} ms idle": sleep}
    with pinned_thread(cpu):
        measure(before, 1, max(1, repeats // 10))  # warm-up
        medians = measure(before, rounds, repeats)
    baseline = median(medians["back to back"])
    rows = [
        {"condition": name, "median_us": median(values), "vs_back_to_back": median(values) / baseline}
        for name, values in medians.items()
    ]
    context.progress("sharing", ", ".join(f"{row['condition']}: {row['median_us']:.1f} µs" for row in rows))
    result: dict[str, Any] = {
        "cpu": cpu,
        "work": f"{WORK_STORES:,} dict stores in pure Python",
        "rounds": rounds,
        "repeats_per_round": repeats,
        "conditions": rows,
    }
    if not has_avx512():
        result["notes"] = {"blas": "skipped: this CPU has no AVX-512, so there is no AVX-512 kernel to compare"}
        return result
    blas = []
    for kernels, coretype in BLAS_KERNELS.items():
        probe = _blas_probe(coretype, cpu, rounds, repeats)
        blas.append({"kernels": kernels, "openblas_coretype": coretype, **probe})
    result["blas_probe"] = blas
    context.progress("sharing", ", ".join(f"{row['kernels']}: {row['vs_back_to_back']:.2f}x" for row in blas))
    return result


def sleep() -> None:
    time.sleep(IDLE_S)


def has_avx512(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU reports AVX-512 Foundation (Linux)."""
    try:
        with open(cpuinfo) as file:
            return any(line.startswith("flags") and " avx512f" in line for line in file)
    except OSError:
        return False


def _blas_probe(coretype: str, cpu: int, rounds: int, repeats: int) -> dict[str, float]:
    """The Python work back to back and after `BLAS_SECONDS` of OpenBLAS matrix products, in a subprocess whose
    OpenBLAS uses the `coretype` kernels."""
    env = {**os.environ, "OPENBLAS_CORETYPE": coretype, "OPENBLAS_NUM_THREADS": "1"}
    argv = [sys.executable, "-m", "benchmarks.sharing", "--rounds", str(rounds), "--repeats", str(repeats)]
    completed = subprocess.run(
        pinned(argv, [cpu]), cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600, check=True
    )
    return dict(json.loads(completed.stdout))


def _matrix_products() -> None:
    left, right = np.ones((96, 96), np.float32), np.ones((96, 96), np.float32)
    started = time.perf_counter()
    while time.perf_counter() - started < BLAS_SECONDS:
        left @ right


def main(argv: list[str] | None = None) -> int:
    """The OpenBLAS probe's subprocess: prints back-to-back and after-products medians as JSON."""
    parser = argparse.ArgumentParser(description="one OpenBLAS probe (run by the sharing section)")
    parser.add_argument("--rounds", type=int, required=True)
    parser.add_argument("--repeats", type=int, required=True)
    args = parser.parse_args(argv)
    before: dict[str, Callable[[], object]] = {"back to back": lambda: None, "after": _matrix_products}
    measure(before, 1, max(1, args.repeats // 10))
    medians = measure(before, args.rounds, args.repeats)
    back, after = median(medians["back to back"]), median(medians["after"])
    print(json.dumps({"back_to_back_us": back, "after_products_us": after, "vs_back_to_back": after / back}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
