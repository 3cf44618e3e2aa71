"""Plain-language explanations for RESULTS.md: for every missed target, the figures that say why."""

from __future__ import annotations

from typing import Any

from benchmarks.profiling import FRAMEWORK_BUCKETS
from benchmarks.servers import CEILING, DEFAULT_SERVICE, TF_SERVICE
from benchmarks.targets import (
    CEILING_SHARE,
    TARGET_CONCURRENCY,
    TF_FUNCTION_SPEEDUP,
    TF_SERVICE_SPEEDUP,
    Target,
    http_row,
    inprocess_row,
)

SATURATED_CORES = 0.9


def _largest_batch(results: dict[str, Any]) -> int | None:
    sizes = [row["batch_size"] for row in results.get("inprocess", {}).get("rows", [])]
    return max(sizes) if sizes else None


def explain_predict(results: dict[str, Any]) -> str:
    """Why model.predict is so slow per call."""
    largest = _largest_batch(results)
    one, big = inprocess_row(results, "tf_predict", 1), inprocess_row(results, "tf_predict", largest or 1)
    direct = inprocess_row(results, "tf_direct_call", 1)
    if one is None or big is None:
        return ""
    return (
        f"`model.predict` takes {one['p50_ms']:.1f} ms for one image and {big['p50_ms']:.1f} ms for {largest}: "
        "almost all of it is a fixed cost per call (Keras wraps the array in a data adapter, builds an iterator and "
        "runs its predict loop), which is why the original service, calling it once per request, cannot go fast. "
        + (f"Calling the model directly already cuts batch 1 to {direct['p50_ms']:.2f} ms." if direct else "")
    )


def _best_per_image(results: dict[str, Any], runner: str) -> tuple[float, int] | None:
    """The lowest p50 cost per image (µs) over all batch sizes, and the batch size it was reached at."""
    rows = [row for row in results.get("inprocess", {}).get("rows", []) if row["runner"] == runner]
    if not rows:
        return None
    best = min(rows, key=lambda row: row["p50_ms"] / row["batch_size"])
    return best["p50_ms"] * 1e3 / best["batch_size"], best["batch_size"]


def explain_tf_function(results: dict[str, Any]) -> str:
    """Why onnxruntime's lead over tf.function at batch 1 is what it is."""
    function, onnx = inprocess_row(results, "tf_function", 1), inprocess_row(results, "onnx_fp32", 1)
    if function is None or onnx is None:
        return ""
    onnx_us, function_us = onnx["p50_ms"] * 1e3, function["p50_ms"] * 1e3
    text = (
        f"`tf.function` at batch 1 takes {function_us:.0f} µs against onnxruntime's {onnx_us:.0f} µs "
        f"({function_us / onnx_us:.1f}×). Both are dominated by the model's own arithmetic plus a fixed cost per call; "
        "this CNN is so small that the arithmetic is tens of microseconds, so the fixed cost decides the ratio."
    )
    onnx_best, function_best = _best_per_image(results, "onnx_fp32"), _best_per_image(results, "tf_function")
    if onnx_best and function_best:
        text += (
            f" Amortised over a batch, one image costs {onnx_best[0]:.0f} µs in onnxruntime (batch {onnx_best[1]}) "
            f"and {function_best[0]:.0f} µs in tf.function (batch {function_best[1]}); so onnxruntime's fixed cost "
            f"per call is about {max(onnx_us - onnx_best[0], 0):.0f} µs and tf.function's about "
            f"{max(function_us - function_best[0], 0):.0f} µs."
        )
    text += (
        f" A {TF_FUNCTION_SPEEDUP:.0f}× lead would need tf.function to cost ≥ {TF_FUNCTION_SPEEDUP * onnx_us:.0f} µs "
        f"per call here: onnxruntime cannot get {TF_FUNCTION_SPEEDUP:.0f}× below a compiled graph whose own "
        "overhead is only a few times the model's compute. The TensorFlow "
        "paths a service really uses per request, `model.predict` and `model(x)`, are the ones it beats by "
        "orders of magnitude."
    )
    return text


def explain_http_vs_tf(results: dict[str, Any]) -> str:
    """Why the requests/s ratio over the TensorFlow service is what it is."""
    service, tf, ceiling = (
        http_row(results, DEFAULT_SERVICE),
        http_row(results, TF_SERVICE),
        http_row(results, CEILING),
    )
    predict = inprocess_row(results, "tf_predict", 1)
    if service is None or tf is None:
        return ""
    text = (
        f"At c={TARGET_CONCURRENCY} the TensorFlow-path service answers {tf['ok_per_s']:.0f} req/s: its async "
        "endpoint calls the blocking `model.predict` on the event loop, one request at a time"
    )
    if predict:
        text += f" ({predict['p50_ms']:.1f} ms each in-process, so at most {1000 / predict['p50_ms']:.0f}/s)"
    text += f". This service answers {service['ok_per_s']:.0f} req/s."
    if ceiling:
        needed = TF_SERVICE_SPEEDUP * tf["ok_per_s"]
        text += (
            f" {TF_SERVICE_SPEEDUP:.0f}× would need {needed:.0f} req/s; "
            f"the no-op ceiling on this core is {ceiling['ok_per_s']:.0f} req/s"
        )
        text += (
            ", so the ratio is capped by the HTTP stack itself, not by inference."
            if needed > ceiling["ok_per_s"]
            else "; the gap is the service's own per-request work (next paragraph)."
        )
    return text


def explain_ceiling(results: dict[str, Any]) -> str:
    """Where the service's CPU per request goes compared with the no-op ceiling."""
    service, ceiling = http_row(results, DEFAULT_SERVICE), http_row(results, CEILING)
    if service is None or ceiling is None:
        return ""
    cores = (service.get("server_cpu_cores") or 0, ceiling.get("server_cpu_cores") or 0)
    if min(cores) >= SATURATED_CORES:
        load = "the server core is saturated in both cases, so requests/s is the inverse of CPU time per request"
    else:
        load = (
            "the server process did not get its whole core in every run (other load on the machine), so compare "
            "CPU time per request rather than requests/s"
        )
    client = (service.get("load_generator_cpu_cores") or 0, ceiling.get("load_generator_cpu_cores") or 0)
    if max(client) >= SATURATED_CORES:
        load += (
            f"; note the load generator itself used {max(client):.2f} of its core, so the ceiling's figure may be "
            "limited by the client and the true framework limit is higher"
        )
    text = (
        f"At c={TARGET_CONCURRENCY} {load} (service used {cores[0]:.2f} cores, ceiling {cores[1]:.2f}): "
        f"{service.get('server_cpu_us_per_ok') or 0:.0f} µs of CPU per request for `/predict` vs "
        f"{ceiling.get('server_cpu_us_per_ok') or 0:.0f} µs for the ceiling, which only parses the upload and "
        "returns a constant. The difference is the real work: JPEG decode and resize, inference, the batcher's "
        "thread hand-off, building the answer, metrics and the request id."
    )
    profile = results.get("profile", {}).get("servers", {}).get(DEFAULT_SERVICE)
    per_request = service.get("server_cpu_us_per_ok")
    ceiling_us = ceiling.get("server_cpu_us_per_ok")
    if profile and per_request:
        parts = ", ".join(
            f"{item['bucket']} {item['share']:.0%} (≈{item['share'] * per_request:.0f} µs)"
            for item in profile["buckets"][:8]
        )
        framework = sum(item["share"] for item in profile["buckets"] if item["bucket"] in FRAMEWORK_BUCKETS)
        text += (
            f" py-spy on the service under this load ({profile['samples']} samples) splits it as: {parts}. "
            f"The framework's part (HTTP protocol, Starlette, multipart, event loop, JSON) is {framework:.0%} "
            f"≈ {framework * per_request:.0f} µs"
            + (f", about what the whole ceiling costs ({ceiling_us:.0f} µs)" if ceiling_us else "")
            + f"; the other ≈ {(1 - framework) * per_request:.0f} µs is the service's own work."
        )
    best = _best_per_image(results, "onnx_fp32")
    if ceiling_us and best:
        budget = ceiling_us / CEILING_SHARE - ceiling_us
        text += (
            f" To reach {CEILING_SHARE:.0%} of the ceiling, `/predict` could spend only {budget:.0f} µs per request "
            "more than the "
            f"ceiling does; onnxruntime alone needs {best[0]:.0f} µs per image even amortised over a batch of "
            f"{best[1]} (section 1), before decoding the JPEG. The target is out of reach for any server that runs "
            "the model on the same core: the ratio measures the cost of the real work, not framework overhead."
        )
    return text


def explain_batching(results: dict[str, Any]) -> str:
    """What dynamic batching buys (or costs) at each concurrency, FP32, multipart."""
    rows = []
    for concurrency in results.get("http", {}).get("concurrencies", []):
        on = http_row(results, "service_fp32_batching", concurrency)
        off = http_row(results, "service_fp32_no_batching", concurrency)
        if on and off and off["ok_per_s"]:
            rows.append((concurrency, on, off))
    if not rows:
        return ""
    settings = results.get("http", {}).get("service_settings", {})
    described = (
        f" (max batch {settings['max_batch_size']}, wait ≤ {settings['max_batch_wait_ms']} ms once batches form)"
        if settings
        else ""
    )
    parts = [
        f"c={concurrency}: {on['ok_per_s']:.0f} vs {off['ok_per_s']:.0f} req/s "
        f"({on['ok_per_s'] / off['ok_per_s']:.2f}×), "
        f"p50 {on['p50_ms'] or 0:.1f} vs {off['p50_ms'] or 0:.1f} ms, server CPU {on.get('server_cpu_cores') or 0:.2f} "
        f"vs {off.get('server_cpu_cores') or 0:.2f} cores"
        for concurrency, on, off in rows
    ]
    text = f"**Dynamic batching**{described}, on vs off (FP32, multipart): " + "; ".join(parts) + "."
    idle = [
        concurrency
        for concurrency, on, off in rows
        if (on.get("server_cpu_cores") or 1) < SATURATED_CORES and on["ok_per_s"] < off["ok_per_s"]
    ]
    if idle:
        text += (
            f" At c={', '.join(map(str, idle))} batching is slower and leaves the core partly idle: the clients cannot "
            "fill a batch, so each batch waits out the timer and every client waits with it."
        )
    return text


def explain_cold_start(results: dict[str, Any]) -> str:
    """What dominates start-up."""
    servers = results.get("coldstart", {}).get("servers", {})
    service, tf = servers.get(DEFAULT_SERVICE), servers.get(TF_SERVICE)
    if not service or not tf:
        return ""
    imports = results.get("coldstart", {}).get("imports", {})
    text = (
        f"This service is ready {service['ready_seconds_median']:.2f} s after the process starts; the TensorFlow "
        f"path needs {tf['ready_seconds_median']:.2f} s."
    )
    for name, label in (("service", "this service"), ("tf_service", "the TensorFlow path")):
        entry = imports.get(name, {})
        if "wall_seconds" in entry:
            top = ", ".join(f"{package} {ms:.0f} ms" for package, ms in list(entry["packages_ms"].items())[:4])
            text += f" Importing {label}'s modules alone takes {entry['wall_seconds']:.2f} s ({top})."
    return text + " The rest is loading and warming up the model and starting uvicorn."


def explain_memory(results: dict[str, Any]) -> str:
    """What dominates resident memory."""
    memory = results.get("http", {}).get("memory", {})
    service, tf = memory.get(DEFAULT_SERVICE, {}).get("after_load"), memory.get(TF_SERVICE, {}).get("after_load")
    if not service or not tf:
        return ""
    return (
        f"After the load runs this service holds {service['rss_mib']:.0f} MiB resident, the TensorFlow path "
        f"{tf['rss_mib']:.0f} MiB: TensorFlow's shared libraries and runtime dominate, not the model."
    )


def explain_image(results: dict[str, Any]) -> str:
    """What the runtime image is made of."""
    footprint = results.get("footprint", {})
    runtime = footprint.get("runtime_set")
    if not runtime:
        return ""
    largest = ", ".join(f"{item['name']} {item['mb']:.0f} MB" for item in runtime["largest"][:4])
    return (
        f"The runtime dependency set is {runtime['mb']:.0f} MB installed (largest: {largest}); the image prunes "
        "parts of these packages and of Debian (see deploy/)."
    )


EXPLANATIONS = {
    "inprocess_vs_predict": explain_predict,
    "inprocess_vs_tf_function": explain_tf_function,
    "http_vs_tf_service": explain_http_vs_tf,
    "http_vs_ceiling": explain_ceiling,
    "cold_start": explain_cold_start,
    "memory": explain_memory,
    "image_size": explain_image,
    "image_vs_tf_image": explain_image,
}


def explain(results: dict[str, Any], targets: list[Target]) -> list[str]:
    """One paragraph per missed target (with its verdict and figures), then the context for the ones that passed."""
    paragraphs: list[str] = []
    for target in targets:
        if target.verdict != "MISS":
            continue
        reason = EXPLANATIONS[target.key](results)
        paragraphs.append(f"**MISS — {target.goal}** ({target.detail}). {reason}".rstrip())
    ceiling_reason = explain_ceiling(results)
    if ceiling_reason and all(t.verdict != "MISS" for t in targets if t.key == "http_vs_ceiling"):
        paragraphs.append(f"**Where the time goes over HTTP.** {ceiling_reason}")
    batching = explain_batching(results)
    if batching:
        paragraphs.append(batching)
    return paragraphs
