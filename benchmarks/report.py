"""RESULTS.md from a results JSON: the targets first, then for each measured section a short fixed note on what it
measures, its settings and single figures, and tables of the rest."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from benchmarks.context import CEILING, DEFAULT_SERVICE, IMAGE_SERVICE, TF_SERVICE
from benchmarks.markdown import cell, fixed, table
from benchmarks.stats import ratio
from benchmarks.targets import CEILING_SHARE, TARGET_CONCURRENCY, evaluate_targets, figure, http_row, inprocess_row
from service.stages import STAGE_HELP, STAGES

Results = dict[str, Any]
RUNNER_LABELS = {
    "onnx_fp32": "onnxruntime FP32",
    "onnx_int8": "onnxruntime INT8",
    "tf_predict": "TF model.predict",
    "tf_direct_call": "TF model(x)",
    "tf_function": "TF tf.function",
}
# Tables of one row per measured record: each column's header → the key of its figure in the record.
INPROCESS_COLUMNS = {
    "Runtime": "runner",
    "Batch": "batch_size",
    "p50 ms": "p50_ms",
    "p95 ms": "p95_ms",
    "p99 ms": "p99_ms",
    "images/s": "items_per_s",
    "calls": "calls",
}
SPEEDUP_COLUMNS = {
    "onnxruntime": "onnx",
    "vs TensorFlow": "tensorflow",
    "Batch": "batch_size",
    "p50 speed-up ×": "p50_speedup",
    "throughput ×": "throughput_ratio",
}
HTTP_COLUMNS = {
    "Server": "server",
    "Workload": "workload",
    "Concurrency": "concurrency",
    "req/s": "ok_per_s",
    "p50 ms": "p50_ms",
    "p95 ms": "p95_ms",
    "p99 ms": "p99_ms",
    "non-2xx": "non_2xx",
    "errors": "errors",
    "server CPU cores": "server_cpu_cores",
    "server CPU µs/request": "server_cpu_us_per_ok",
    "hey CPU cores": "load_generator_cpu_cores",
}
WORKER_COLUMNS = {
    "Round": "round",
    "workers": "workers",
    "req/s": "ok_per_s",
    "server CPU µs/request": "server_cpu_us_per_ok",
    "server cores busy": "server_cpu_cores",
    "`wrk` CPU µs/request": "load_generator_cpu_us_per_ok",
}
COLD_START_COLUMNS = {
    "Server": "name",
    "ready s": "ready_seconds_median",
    "first prediction s": "first_prediction_seconds_median",
    "RSS MiB after it": "rss_mib_after_first_prediction_median",
    "starts": "starts",
}
PHOTO_COLUMNS = {"Server": "name", "p50 ms": "p50_ms", "p95 ms": "p95_ms", "requests": "calls", "statuses": "statuses"}
IMAGE_COLUMNS = {"Role": "role", "Image": "image", "MB": "mb", "Source": "source"}
MEMORY_COLUMNS = {
    "Server": "name",
    "RSS after warm-up MiB": "warm_rss_mib",
    "RSS after load MiB": "rss_mib",
    "peak RSS MiB": "peak_rss_mib",
    "processes": "processes",
}
# What a section measures and how: fixed text (its settings and single figures follow in a table).
HOW = (
    "In-process, runners alternate round by round so background noise hits all of them; percentiles pool every "
    "call. Over HTTP, each server and the load generator (`hey`, keep-alive) are pinned to CPUs of their own; a "
    "warm-up, then one run per concurrency level. Request: a real CIFAR-10 test JPEG (`test/cat/0000.jpg`) as "
    "multipart field `file`. Access logs off on every server. hey reports latency with 0.1 ms resolution. Server CPU "
    "is the server's user + system time during the run (from /proc), hey's from its resource usage. The plan:"
)
HEAD_TO_HEAD = (
    "The servers the HTTP targets compare run at the same time and take turns under `hey` (rotating order), so a "
    "burst from a neighbour on this shared machine hits a round, not a server. The targets use these medians."
)
WORKERS = (
    "This service (FP32, one onnxruntime thread per worker; with one CPU per worker, `CIFAR10_INFERENCE_THREAD=auto` "
    "runs batches on each event loop) with one worker pinned to one CPU and two workers to two, multipart, in "
    "interleaved rounds under `wrk`, which spends about a third of `hey`'s CPU per request: on the other CPU for one "
    "worker, on the same two CPUs for two (a machine with a third CPU gives it to `wrk`). Medians of the per-round "
    "ratios: `median_speedup`, two workers' requests/s over one's, as measured; `median_speedup_on_free_cores`, 2 × "
    "one worker's server CPU per request over two workers', what two cores free of the load generator would give."
)
STAGES_MEASURED = (
    f"CPU µs per request of `{DEFAULT_SERVICE}` under `hey` at c={TARGET_CONCURRENCY}, from the service's own stage "
    "timers (`cifar10_stage_seconds_total`: CPU time of the thread doing each stage, read for a random one call in "
    "16 and scaled, whole batches every time) and the server process's CPU time over the same run, beside the no-op "
    "ceiling's whole request. A server on one CPU runs its batches on the event loop's thread "
    "(`CIFAR10_INFERENCE_THREAD=auto`)."
)
REPRODUCE = """```
make bench                  # full run (about 15 min) into a new folder runs/benchmarks-full-<time>/
make bench ARGS=--publish   # the same, written here: this file and results/results.json
make bench-smoke            # about a minute; figures that mean nothing, verdicts NOT MEASURED
python -m benchmarks --report-only --publish   # re-render this file from results.json
```"""


def render(results: Results) -> str:
    """The whole RESULTS.md text: a part for each section the run measured."""
    parts = [
        ("inprocess", _inprocess),
        ("http", _http),
        ("headtohead", _head_to_head),
        ("workers", _workers),
        ("coldstart", _cold_start),
        ("http", _memory),  # the servers' memory is measured by the HTTP section
        ("footprint", _footprint),
        ("largephoto", _large_photo),
        ("profile", _profile),
        ("sharing", _sharing),
    ]
    raw = f"Raw figures: `results/results.json` (sections: {', '.join(results['plan']['sections'])})."
    return _blocks(
        _header(results),
        _part("Targets", "All ratios come from this one run on this machine.", _targets(results)),
        _part("How it was measured", HOW, _settings(results["plan"])),
        *(part(results) for section, part in parts if section in results),
        _part("Reproduce", REPRODUCE, raw) + "\n",
    )


def _blocks(*blocks: str) -> str:
    """The blocks that are not empty, a blank line apart."""
    return "\n\n".join(block for block in blocks if block)


def _part(title: str, *blocks: str) -> str:
    return _blocks(f"## {title}", *blocks)


def _section(title: str, about: str, section: Mapping[str, Any], *tables: str) -> str:
    """A part for one section: what it measures, its settings and single figures, its tables, its notes."""
    return _part(title, about, _settings(section), *tables, _notes(section))


def _notes(section: Mapping[str, Any]) -> str:
    """A section's notes (skips, failures) as a list, or nothing."""
    notes = "".join(f"\n- {name}: {value}" for name, value in section.get("notes", {}).items())
    return f"Notes:{notes}" if notes else ""


def _table(caption: str, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A table under its caption, or nothing when there is no row to show."""
    shown = list(rows)
    return _blocks(caption, table(headers, shown)) if shown else ""


def _ms(value: float | None) -> str:
    return fixed(value, 3 if value is not None and value < 10 else 1)


def _hey_ms(value: float | None) -> str:
    """hey prints latencies in seconds with four decimals: 0.1 ms resolution."""
    return fixed(value, 1)


def _shown(value: Any) -> object:
    """A value as a cell shows it: a runner by its label, a list comma-separated."""
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return RUNNER_LABELS.get(value, value) if isinstance(value, str) else value


def _records(
    caption: str, columns: Mapping[str, str], records: Iterable[Mapping[str, Any]], ms: Callable[..., str] = _ms
) -> str:
    """A table of one row per record: under each header the record's figure at its key, latencies (keys ending in
    ``_ms``) shown by ``ms``."""
    rows = [
        [ms(record.get(key)) if key.endswith("_ms") else _shown(record.get(key)) for key in columns.values()]
        for record in records
    ]
    return _table(caption, list(columns), rows)


def _settings(section: Mapping[str, Any]) -> str:
    """A section's settings and single figures, as results.json names them: its values that are not tables."""
    rows = [(key, _shown(value)) for key, value in section.items() if not _is_table(value)]
    return _table("", ["Setting", "Value"], rows)


def _is_table(value: object) -> bool:
    return isinstance(value, dict) or (isinstance(value, list) and any(isinstance(item, dict) for item in value))


def _header(results: Results) -> str:
    machine, models = results["machine"], results.get("models", {})
    keras = models.get("keras_model") or "none"
    trained = "trained checkpoint" if models.get("trained_keras_model") else "NOT the trained checkpoint"
    versions = ", ".join(f"{name} {value}" for name, value in machine.get("versions", {}).items())
    smoke = "> **Smoke run**: tiny durations, for checking the scripts only. These figures mean nothing."
    return _blocks(
        "# Benchmark results",
        f"Generated by `python -m benchmarks` ({results['mode']} mode) on {machine['date']}, "
        f"in {results.get('elapsed_seconds', 0):.0f} s. Do not edit by hand: re-run the command.",
        f"- **Machine**: {machine['cpu_model']}, {machine['logical_cores']} logical cores, "
        f"{(machine.get('memory_total_mib') or 0) / 1024:.1f} GiB RAM, Linux {machine.get('kernel')}.\n"
        f"- **Load average** (1/5/15 min) at start {machine.get('load_average_at_start')}, "
        f"at end {results.get('load_average_at_end')}.\n"
        f"- **Software**: Python {machine['python']}; {versions}.\n"
        f"- **Models**: ONNX FP32 `{(models.get('onnx_fp32_sha256') or 'n/a')[:12]}`, "
        f"INT8 `{(models.get('onnx_int8_sha256') or 'n/a')[:12]}`; Keras `{keras}` ({trained}).",
        smoke if results["mode"] != "full" else "",
    )


def _targets(results: Results) -> str:
    rows = [
        (each.goal, _measured(each.measured, each.unit), each.detail, each.verdict)
        for each in evaluate_targets(results)
    ]
    return table(["Target", "Measured", "Figures", "Verdict"], rows)


def _measured(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit != "×":
        return f"{value:,.1f}{unit}"
    if 0 < value < 1:
        return f"{value:.3f}× (1/{1 / value:.1f})"
    return f"{cell(value)}×"


def best_per_image(inprocess: Mapping[str, Any], runner: str) -> tuple[float, int] | None:
    """The lowest p50 cost of one image (µs) over all batch sizes, and the batch size it was reached at."""
    rows = [row for row in inprocess.get("rows", []) if row["runner"] == runner]
    if not rows:
        return None
    best = min(rows, key=lambda row: row["p50_ms"] / row["batch_size"])
    return best["p50_ms"] * 1e3 / best["batch_size"], best["batch_size"]


def _inprocess(results: Results) -> str:
    inprocess = results["inprocess"]
    runners, agreement = inprocess.get("runners", []), inprocess.get("agreement_vs_first_runner", {})
    costs = []
    for runner in runners:
        one, best = inprocess_row(results, runner), best_per_image(inprocess, runner)
        if one is not None and best is not None:
            one_us = one["p50_ms"] * 1e3
            costs.append((_shown(runner), one_us, best[0], best[1], max(one_us - best[0], 0.0)))
    agreements = [
        (_shown(runner), *(f"{agreement[f'{runner}_{key}']:.3g}" for key in ("top1_agreement", "max_abs_diff")))
        for runner in runners[1:]
        if f"{runner}_top1_agreement" in agreement
    ]
    return _section(
        "1. In-process inference",
        "",
        inprocess,
        _records("", INPROCESS_COLUMNS, sorted(inprocess["rows"], key=lambda row: (row["batch_size"], row["p50_ms"]))),
        _records(
            "Speed-up of onnxruntime over each TensorFlow call style (ratio of p50 latencies, and of images/s):",
            SPEEDUP_COLUMNS,
            inprocess.get("speedups_p50", []),
        ),
        _table(
            "Fixed cost per call: the batch-1 p50 minus the lowest p50 per image over all batch sizes (µs):",
            ["Runtime", "batch 1 µs", "best µs per image", "at batch", "fixed cost per call µs"],
            costs,
        ),
        _table(
            f"Agreement with {_shown(runners[0]) if runners else 'n/a'} on the sample batch:",
            ["Runtime", "top-1 agreement", "largest probability difference"],
            agreements,
        ),
    )


def _http(results: Results) -> str:
    http = results["http"]
    versus, batching = [], []
    for concurrency in http.get("concurrencies", []):
        service, tf, ceiling = (
            figure(http_row(results, name, concurrency), "ok_per_s") for name in (DEFAULT_SERVICE, TF_SERVICE, CEILING)
        )
        versus.append((concurrency, service, ratio(service, tf), ratio(service, ceiling)))
        on, off = (http_row(results, name, concurrency) for name in (DEFAULT_SERVICE, "service_fp32_no_batching"))
        if on and off:
            rates, cores = (on["ok_per_s"], off["ok_per_s"]), (on.get("server_cpu_cores"), off.get("server_cpu_cores"))
            batching.append((concurrency, *rates, ratio(*rates), _hey_ms(on["p50_ms"]), _hey_ms(off["p50_ms"]), *cores))
    predict = figure(inprocess_row(results, "tf_predict"), "p50_ms")
    settings = http.get("service_settings", {})
    return _section(
        "2. End-to-end HTTP",
        "",
        http,
        _table("Servers:", ["Server", "What it runs"], http.get("servers", {}).items()),
        _table("Workloads:", ["Workload", "Request"], http.get("workloads", {}).items()),
        _records("", HTTP_COLUMNS, http.get("rows", []), ms=_hey_ms),
        _table(
            f"`{DEFAULT_SERVICE}` against the TensorFlow path and the ceiling (multipart):",
            ["Concurrency", "req/s", "× TF-path service", "fraction of ceiling"],
            versus if any(row[1] is not None for row in versus) else [],
        ),
        _table(
            "The TensorFlow-path service calls `model.predict` on its event loop, one request at a time, so its "
            "in-process batch-1 p50 (section 1) bounds its requests/s:",
            ["model.predict ms per call", "at most requests/s"],
            [(fixed(predict, 1), fixed(1000 / predict, 0))] if predict else [],
        ),
        _table(
            f"Dynamic batching on against off (FP32, multipart; max batch {settings.get('max_batch_size')}, "
            f"wait ≤ {settings.get('max_batch_wait_ms')} ms once batches form):",
            ["Concurrency", "req/s on", "req/s off", "on/off ×", "p50 ms on", "p50 ms off", "CPU on", "CPU off"],
            batching,
        ),
    )


def _head_to_head(results: Results) -> str:
    title, headtohead = "2b. The HTTP targets, side by side in interleaved rounds", results["headtohead"]
    loads = [headtohead, *headtohead.get("more", [])]
    rounds = []
    for load in loads:
        medians = load["median_ok_per_s"]
        rows = [(number, *(rates.get(name) for name in medians)) for number, rates in enumerate(load["rounds"], 1)]
        caption = f"**{load['workload']}, c={load['concurrency']}**"
        rounds.append(
            _table(caption, ["Round", *(f"{name} req/s" for name in medians)], [*rows, ("median", *medians.values())])
        )
    ratios = [
        (
            f"{load['workload']}, c={load['concurrency']}",
            fixed(load["median_ratios"].get("vs_tf_service"), 0, "×"),
            *(_percent(load["median_ratios"].get(key)) for key in ("vs_ceiling", "int8_vs_ceiling")),
        )
        for load in loads
    ]
    shares = (f"`{name}` of the ceiling" for name in (DEFAULT_SERVICE, IMAGE_SERVICE))
    rounds.append(
        _table("Medians of the per-round ratios:", ["Load", f"`{DEFAULT_SERVICE}` × TF-path service", *shares], ratios)
    )
    return _section(title, HEAD_TO_HEAD, headtohead, *rounds)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _workers(results: Results) -> str:
    title, workers = "2c. One worker process or two", results["workers"]
    records = [
        {"round": number, "workers": name.split("_")[1], **turn}
        for number, measured in [*enumerate(workers["rounds"], 1), ("median", workers["medians"])]
        for name, turn in measured.items()
    ]
    return _section(title, WORKERS, workers, _records("", WORKER_COLUMNS, records))


def _cold_start(results: Results) -> str:
    coldstart = results["coldstart"]
    servers = [{"name": name, **entry, "starts": len(entry["runs"])} for name, entry in coldstart["servers"].items()]
    imports = [
        (name, entry["wall_seconds"], ", ".join(f"{package} {ms:.0f}" for package, ms in entry["packages_ms"].items()))
        for name, entry in coldstart.get("imports", {}).items()
        if "wall_seconds" in entry
    ]
    return _section(
        "3. Cold start",
        "From process start to the first 200 from `/ready`, and to the first successful `POST /predict`; medians of "
        "the starts, servers alternated, pinned to the server CPUs.",
        coldstart,
        _records("", COLD_START_COLUMNS, servers),
        _table(
            "Import cost alone (`python -X importtime`, fresh interpreter, not pinned):",
            ["Modules of", "wall s", "ms per top-level package"],
            imports,
        ),
    )


def _memory(results: Results) -> str:
    servers = [
        {"name": name, "warm_rss_mib": entry.get("after_warmup", {}).get("rss_mib"), **entry.get("after_load", {})}
        for name, entry in results["http"].get("memory", {}).items()
    ]
    return _part(
        "4. Memory",
        "Resident set size (VmRSS, summed over the server and its child processes) after the warm-up and after all "
        "load runs; peak is VmHWM.",
        _records("", MEMORY_COLUMNS, servers),
    )


def _footprint(results: Results) -> str:
    footprint = results["footprint"]
    sets = [
        (
            name,
            entry["mb"],
            entry["distributions"],
            ", ".join(f"{i['name']} {i['mb']:.0f}" for i in entry["largest"][:6]),
        )
        for name, entry in (
            ("runtime set (`[project] dependencies` closure)", footprint["runtime_set"]),
            ("TensorFlow path (tensorflow_roots + closure)", footprint["tensorflow_set"]),
        )
    ]
    images = [{"role": role, **entry} for role, entry in footprint.get("images", {}).items()]
    return _section(
        "5. Footprint",
        "Installed size in the virtualenv (sum of every file each distribution's RECORD lists), in MB (10^6 bytes).",
        footprint,
        table(["Dependency set", "MB", "distributions", "largest (MB)"], sets),
        _records("Container images (`podman image inspect`):", IMAGE_COLUMNS, images),
    )


def _large_photo(results: Results) -> str:
    photo = results["largephoto"]
    return _section(
        "6. Large photos",
        "A photo-like JPEG, generated at benchmark time (not committed), posted as multipart one request at a time.",
        photo,
        _records("", PHOTO_COLUMNS, [{"name": name, **entry} for name, entry in photo.get("servers", {}).items()]),
    )


def _stages(profile: Mapping[str, Any]) -> str:
    """CPU µs per request, stage by stage, from the service's own timers, against the no-op ceiling's whole."""
    stages = profile.get("stages", {})
    service, ceiling = stages.get(DEFAULT_SERVICE), stages.get(CEILING, {})
    if not service:
        return ""
    workloads = list(service)
    whole = [figure(service, w, "server_cpu_us") for w in workloads]
    staged = [sum(v for k, v in service[w]["stages_us"].items() if k != "queue") for w in workloads]
    rows: list[tuple[str, *tuple[float | None, ...]]] = [
        (f"{stage}: {STAGE_HELP[stage]}", *(service[w]["stages_us"].get(stage) for w in workloads))
        for stage in STAGES
        if stage != "queue"
    ]
    rows += [
        ("the rest: HTTP protocol, framework, event loop, batching hand-off", *map(_difference, whole, staged)),
        ("**whole request (server CPU)**", *whole),
        ("no-op ceiling, whole request", *(figure(ceiling, w, "server_cpu_us") for w in workloads)),
        ("queue: wall time waiting for a batch (not CPU)", *(service[w]["stages_us"].get("queue") for w in workloads)),
    ]
    return _table(
        f"### Stage by stage\n\n{STAGES_MEASURED}",
        ["Stage", *(f"{w} µs" for w in workloads)],
        [(row[0], *(fixed(value, 1) for value in row[1:])) for row in rows],
    )


def _difference(whole: float | None, part: float) -> float | None:
    return None if whole is None else whole - part


def _profile(results: Results) -> str:
    title, profile = "7. Where the CPU goes", results["profile"]
    ceiling_us = figure(http_row(results, CEILING), "server_cpu_us_per_ok")
    best = best_per_image(results.get("inprocess", {}), "onnx_fp32")
    budget = _table(
        f"What the ceiling target leaves `/predict` at {CEILING_SHARE:.0%} of the ceiling's requests/s on a "
        "saturated core, against what inference alone needs (section 1):",
        ["ceiling's CPU µs per request", "µs per request more", "onnxruntime FP32 best µs per image", "at batch"],
        [(fixed(ceiling_us, 0), fixed(ceiling_us / CEILING_SHARE - ceiling_us, 0), fixed(best[0], 0), best[1])]
        if ceiling_us and best
        else [],
    )
    return _part(title, _stages(profile), budget, _notes(profile))


SHARING_ABOUT = (
    "The same pure-Python work, timed back to back and right after something else on the same core. Work that "
    "follows an onnxruntime call is what every request's parsing, admission and answer are; the OpenBLAS probe runs "
    "the same float32 matrix products with AVX-512 and with AVX2 kernels before the work, to tell the core's "
    "AVX-512 frequency licence from the caches."
)


def _sharing(results: Results) -> str:
    sharing = results["sharing"]
    conditions = [
        (row["condition"], fixed(row["median_us"], 1), f"{row['vs_back_to_back']:.2f}×")
        for row in sharing.get("conditions", [])
    ]
    probe = [
        (
            f"{row['kernels']} (`OPENBLAS_CORETYPE={row['openblas_coretype']}`)",
            fixed(row["back_to_back_us"], 1),
            fixed(row["after_products_us"], 1),
            f"{row['vs_back_to_back']:.2f}×",
        )
        for row in sharing.get("blas_probe", [])
    ]
    return _section(
        "8. Python right after onnxruntime",
        SHARING_ABOUT,
        sharing,
        _table("", ["Before the Python work", "median µs", "vs back to back"], conditions),
        _table(
            "OpenBLAS probe: the work back to back and after 0.3 ms of 96×96 float32 matrix products (µs):",
            ["OpenBLAS kernels", "back to back", "after the products", "ratio"],
            probe,
        ),
    )
