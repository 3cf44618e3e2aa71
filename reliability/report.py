"""Render ``RELIABILITY.md`` from the results JSON: every check's verdict, then each section's figures in tables
whose rows and columns are its JSON keys, under a paragraph saying what they measure."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from benchmarks.inputs import V2_INFER_PATH
from benchmarks.markdown import table

LABELS = ("name", "cost_class", "admitted", "client_paced", "expected", "answers", "ok")  # what an attack is


def checks(results: Mapping[str, Any]) -> dict[str, bool]:
    """Every check of a run, and whether it passed."""
    hostile, cost, soak = results["hostile_inputs"], results["cost"], results["soak"]
    hostile_passed = hostile["passed"] == hostile["cases"] and hostile["still_serving_after"]
    faults_refused = all(fault["survived"] for fault in results["startup_faults"])
    return {
        "Every hostile input answered as documented, the server still serving after them": hostile_passed,
        "Every attack answered as documented": all(case["ok"] for case in cost["cases"]),
        "Every cost target met": all(target["met"] for target in cost["targets"]),
        "Soak without an error (skipped without hey)": "skipped" in soak or soak["zero_errors"],
        "Overload shed with well-formed 503s, then every request served": results["overload"]["shed_and_recovered"],
        "SIGTERM under load: nothing half-answered or malformed, exit 0": results["sigterm"]["clean"],
        "Every broken model at start-up: one clear line, non-zero exit, never ready": faults_refused,
    }


def render(results: Mapping[str, Any]) -> str:
    """The Markdown report."""
    cost, hostile, faults = results["cost"], results["hostile_inputs"], results["startup_faults"]
    machine = {**results["machine"], "uptime": results["uptime"], "model": results["model"], **results["plan"]}
    baseline = {f"baseline_{key}": value for key, value in cost["baseline"].items() if key not in LABELS}
    example = next((fault["stderr_lines"][0] for fault in faults if fault["stderr_lines"]), "")
    verdicts = [(check, "yes" if passed else "**NO**") for check, passed in checks(results).items()]
    blocks = [
        "# Reliability and security figures",
        f"Produced by `python -m reliability{' --quick' if results['quick'] else ''}`; do not edit by hand, re-run "
        "the command. The machine is shared with other work, so latency figures (and the latency targets' verdicts) "
        "are indicative; the other verdicts are not.",
        "## Summary",
        table(["Check", "Passed"], verdicts),
        "## Machine and plan",
        figures({**machine, "seconds": results["seconds"]}),
        "## Cost per request",
        "Every attack of `reliability.attacks` (with `--quick`, its quick subset), one at a time, against one server "
        "with the default settings pinned to `server_cpus`, while a probe (`POST /predict` with a 32x32 JPEG, every "
        "`probe_every_ms`) runs from `client_cpus` and goes on `settle_s` past each attack. Per attack: `seconds` "
        "until its slowest answer; `cpu_s`, the server's CPU time less the probe's own (`probe_cpu_ms` per probe, from "
        "the baseline: the probe alone); `peak_rss_growth_mib`, VmHWM (reset before the attack) minus VmRSS before it; "
        "and what the probe saw meanwhile. `admitted`: inside every limit, so it must be served within the targets; "
        "`client_paced`: it lasts as long as its client makes it (trickles, disconnects), so the time target does not "
        "apply. The idle resident memory is read after the warm-up and a few seconds after the last attack.",
        figures({**cost, **baseline}, leave_out=("baseline", "cases", "targets", "shutdown")),
        records(cost["targets"]),
        records(cost["cases"]),
        "SIGTERM under keep-alive load: `clients` clients on keep-alive connections (opened again after each "
        "`Connection: close`) send `POST /predict` until the server has exited, with the default drain window "
        "(`drain_s`); `unanswered` counts requests sent that were reset or closed without an answer.",
        figures(cost["shutdown"]),
        "## Hostile inputs",
        "The catalogue of `reliability.catalogue`, one request at a time, to a server with the small `limits` it is "
        "built for, after a few ordinary requests to settle the allocator. Each case expects the status and error code "
        "the service documents for it (a batch holding a bomb is answered 200, with that image's own error entry). "
        "`peak_rss_growth_mib`: how much the server's peak resident memory (VmHWM) grew over the whole catalogue; "
        "`still_serving_after`: an ordinary request succeeded after it.",
        figures(hostile, leave_out=("results",)),
        records(hostile["results"]),
        "## Soak",
        "`POST /predict` with a 32x32 JPEG from hey, `concurrency` connections for `seconds` on loopback after a "
        "warm-up (the plan's `warm_up_s`), default settings (dynamic batching on), access log off. The figures are "
        "hey's (its `status_codes` tally keeps at most a million answers; `errors` are transport failures), the "
        "server's own counters for the soak (`server_side_statuses`) and its resident memory, sampled every second "
        "(`rss_mib`; the drift is the end minus the start).",
        figures(results["soak"], leave_out=("rss_samples",)),
        "## Overload",
        f"The plan's `overload_clients` flood `POST {V2_INFER_PATH}` with binary tensors of `overload_images` images "
        "each for `overload_s`, against a server with `CIFAR10_MAX_QUEUE` = `overload_queue`; then `recovery_requests` "
        "single-image requests are sent one at a time. A 503 is well formed when it is the JSON error `overloaded` "
        "with a Retry-After header; 503s are answered at once, so the latency percentiles cover every answer.",
        figures(results["overload"]),
        "## SIGTERM under load",
        "The plan's `sigterm_clients` send `POST /predict`, one connection per request, for `sigterm_load_s`; then the "
        "server gets SIGTERM while they keep sending until it has exited. Outcomes are statuses, or `refused` (the "
        "port was already closed), `no_response` (the connection closed before a byte was sent) and `partial` (a half "
        "answer, which must not happen). `in_flight_at_signal`: requests sent before the signal, answered 200 after.",
        figures(results["sigterm"]),
        "## Start-up faults",
        "The service started on each broken model file must exit non-zero with one clear line on stderr (a JSON error "
        "record without a traceback) and never answer `/ready` with 200.",
        records(faults, leave_out=("stderr_lines",)),
        f"Example of the one line:\n\n```\n{example}\n```",
    ]
    return "\n\n".join(blocks) + "\n"


def figures(section: Mapping[str, Any], leave_out: Collection[str] = ()) -> str:
    """A section's figures, one row per JSON key."""
    return table(["Figure", "Value"], [(key, shown(value)) for key, value in section.items() if key not in leave_out])


def records(rows: Sequence[Mapping[str, Any]], leave_out: Collection[str] = ()) -> str:
    """One row per record, one column per JSON key."""
    columns = [key for key in rows[0] if key not in leave_out]
    return table(columns, [[shown(row[key]) for key in columns] for row in rows])


def shown(value: object) -> str:
    """A JSON value in a table cell: yes or no, numbers to at most 3 decimals, lists and objects on one line."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{round(value, 3):,}"
    if isinstance(value, list):
        return ", ".join(shown(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}: {shown(item)}" for key, item in value.items())
    return "n/a" if value is None else str(value)
