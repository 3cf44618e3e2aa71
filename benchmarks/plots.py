"""PNG plots for RESULTS.md: latency vs batch size per runtime, throughput vs concurrency per server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

INPROCESS_PLOT = "inprocess_latency.png"
HTTP_PLOT = "http_throughput.png"
RUNNER_LABELS = {
    "onnx_fp32": "onnxruntime FP32",
    "onnx_int8": "onnxruntime INT8",
    "tf_predict": "TF model.predict",
    "tf_direct_call": "TF model(x)",
    "tf_function": "TF tf.function",
}


def _two_panels(xlabel: str, values: list[int]) -> tuple[Any, Any, Any]:
    """A figure with two log-log panels whose x axis (log 2) is labelled with the measured values themselves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for axis in axes:
        axis.set_xscale("log", base=2)
        axis.set_xticks(values)
        axis.set_xticklabels([str(value) for value in values])
        axis.minorticks_off()
        axis.set_yscale("log")
        axis.set_xlabel(xlabel)
        axis.grid(True, which="both", alpha=0.3)
    return figure, *axes


def _save(figure: Any, title: str, path: Path) -> Path:
    import matplotlib.pyplot as plt

    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_inprocess(inprocess: dict[str, Any], path: Path) -> Path | None:
    """Two panels: p50 latency (p95 as the bar top) and images/s, against batch size, one line per runtime."""
    rows = inprocess.get("rows", [])
    if not rows:
        return None
    figure, latency_axis, throughput_axis = _two_panels("batch size", sorted({row["batch_size"] for row in rows}))
    for runner in inprocess.get("runners", []):
        mine = sorted((row for row in rows if row["runner"] == runner), key=lambda row: row["batch_size"])
        if not mine:
            continue
        sizes = [row["batch_size"] for row in mine]
        p50 = [row["p50_ms"] for row in mine]
        upper = [row["p95_ms"] - row["p50_ms"] for row in mine]
        label = RUNNER_LABELS.get(runner, runner)
        latency_axis.errorbar(sizes, p50, yerr=[[0] * len(p50), upper], marker="o", capsize=3, label=label)
        throughput_axis.plot(sizes, [row["items_per_s"] for row in mine], marker="o", label=label)
    latency_axis.set_ylabel("latency per call, ms (p50, bar to p95)")
    latency_axis.set_title("In-process latency vs batch size")
    throughput_axis.set_ylabel("images / s")
    throughput_axis.set_title("In-process throughput vs batch size")
    latency_axis.legend(fontsize=8)
    return _save(figure, f"{inprocess.get('threads')} intra-op thread(s) for both runtimes", path)


def plot_http(http: dict[str, Any], path: Path) -> Path | None:
    """Two panels: successful requests/s and p99 latency against concurrency, one line per server and workload."""
    rows = http.get("rows", [])
    if not rows:
        return None
    concurrencies = sorted({row["concurrency"] for row in rows})
    figure, rate_axis, latency_axis = _two_panels("concurrent clients (hey -c)", concurrencies)
    for server, workload in sorted({(row["server"], row["workload"]) for row in rows}):
        mine = sorted(
            (row for row in rows if row["server"] == server and row["workload"] == workload),
            key=lambda row: row["concurrency"],
        )
        label = server if workload == "multipart" else f"{server} ({workload})"
        style = "--" if workload != "multipart" else "-"
        concurrency = [row["concurrency"] for row in mine]
        rate_axis.plot(concurrency, [row["ok_per_s"] for row in mine], style, marker="o", label=label)
        latency_axis.plot(concurrency, [row["p99_ms"] or float("nan") for row in mine], style, marker="o", label=label)
    rate_axis.set_ylabel("successful requests / s")
    rate_axis.set_title("HTTP throughput vs concurrency")
    latency_axis.set_ylabel("p99 latency, ms")
    latency_axis.set_title("HTTP p99 latency vs concurrency")
    rate_axis.legend(fontsize=7)
    cpus = http.get("server_cpus"), http.get("load_generator_cpus")
    return _save(figure, f"server on CPU {cpus[0]}, load generator on CPU {cpus[1]}", path)
