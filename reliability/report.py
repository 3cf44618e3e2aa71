"""Render ``RELIABILITY.md`` from the reliability results JSON."""

from __future__ import annotations

from typing import Any


def _yes(value: object) -> str:
    return "yes" if value else "**NO**"


def render(results: dict[str, Any]) -> str:
    """The Markdown report."""
    machine = results["machine"]
    lines = [
        "# Reliability and security figures",
        "",
        f"Produced by `python -m reliability{' --quick' if results['quick'] else ''}` on "
        f"{machine['date']} (git {machine.get('git_revision') or 'n/a'}); do not edit by hand, re-run the command.",
        "",
        f"Machine: {machine['cpu_model']}, {machine['logical_cores']} logical cores "
        f"({len(machine['usable_cpus'])} usable), {machine['memory_total_mib']:.0f} MiB RAM, Linux "
        f"{machine['kernel']}, Python {machine['python']}. Load before the run: `{results['uptime']}`. "
        "The machine is shared with other work, so latency figures are indicative; the pass/fail verdicts are not.",
        "",
        "Versions: " + ", ".join(f"{name} {version}" for name, version in machine["versions"].items()) + ".",
        "",
        "## Summary",
        "",
        "| Check | Result |",
        "|---|---|",
    ]
    hostile = results["hostile_inputs"]
    lines.append(
        f"| Hostile inputs refused as documented | {hostile['passed']}/{hostile['cases']} "
        f"(slowest {hostile['slowest_ms']:.1f} ms; server peak RSS +{hostile['peak_rss_growth_mib']:.1f} MiB) |"
    )
    soak = results["soak"]
    if "skipped" in soak:
        lines.append(f"| Soak | skipped: {soak['skipped']} |")
    else:
        lines.append(
            f"| Soak: {soak['seconds']:.0f} s at concurrency {soak['concurrency']} (hey) | "
            f"{sum(soak['server_side_statuses'].values())} requests served, {soak['requests_per_s']:.0f} req/s, "
            f"errors {soak['errors']}, "
            f"non-2xx {soak['non_2xx']}; RSS drift {soak['rss_drift_mib']:+.1f} MiB "
            f"({soak['rss_drift_percent']:+.1f} %) |"
        )
    overload = results["overload"]
    lines.append(
        f"| Overload sheds with 503 and recovers | {_yes(overload['shed_and_recovered'])}: "
        f"{overload['shed_share'] * 100:.1f} % shed, "
        f"recovery {overload['recovery_ok']}/{overload['recovery_requests']} |"
    )
    shutdown = results["sigterm"]
    lines.append(
        f"| SIGTERM under load: nothing half-answered, exit 0 | {_yes(shutdown['clean'])}: "
        f"{shutdown['in_flight_at_signal']} in-flight completed, exit {shutdown['exit_code']} "
        f"in {shutdown['exit_seconds']} s |"
    )
    faults = results["startup_faults"]
    survived = sum(fault["survived"] for fault in faults)
    lines.append(f"| Broken model at start-up: one line, non-zero exit, never ready | {survived}/{len(faults)} |")
    lines += ["", "## Hostile inputs", "", "| Case | Expected | Got | Latency (ms) | OK |", "|---|---|---|---|---|"]
    for case in hostile["results"]:
        lines.append(
            f"| {case['name']} | {case['expected_status']} {case['expected_code']} | {case['status']} {case['code']} "
            f"| {case['ms']:.1f} | {_yes(case['ok'])} |"
        )
    lines += ["", "## Soak", ""]
    if "skipped" in soak:
        lines.append(f"Skipped: {soak['skipped']}.")
    else:
        latency = ", ".join(
            f"{key[:-3]} {soak[key]:.1f} ms" for key in ("p50_ms", "p95_ms", "p99_ms") if soak[key] is not None
        )
        rss = soak["rss_mib"]
        lines += [
            f"`POST /predict` with a 32x32 JPEG, {soak['concurrency']} concurrent connections for "
            f"{soak['seconds']:.0f} s "
            f"on loopback after a {results['plan']['warm_up_s']:.0f} s warm-up, FP32 model, dynamic batching on, "
            "access log off.",
            "",
            f"- Requests: {soak['requests']} ({soak['requests_per_s']:.0f}/s); hey's status tally (it keeps "
            f"at most a million) {soak['status_codes']}; "
            f"transport errors {soak['errors']}; the server's own counters for the soak: "
            f"{soak['server_side_statuses']}; zero errors: {_yes(soak['zero_errors'])}.",
            f"- Latency: {latency}.",
            f"- Resident memory (MiB): start {rss['start']}, middle {rss['middle']}, end {rss['end']}, "
            f"max {rss['max']}; "
            f"drift {soak['rss_drift_mib']:+.1f} MiB ({soak['rss_drift_percent']:+.1f} %).",
        ]
    lines += [
        "",
        "## Overload",
        "",
        f"{results['plan']['overload_description']}",
        "",
        f"- Requests: {overload['requests']}; outcomes {overload['outcomes']}; shed share "
        f"{overload['shed_share'] * 100:.1f} %; every 503 was JSON `overloaded` with Retry-After: "
        f"{_yes(overload['shed_answers_well_formed'])}.",
        f"- Latency under the flood: p50 {overload['p50_ms']} ms, p99 {overload['p99_ms']} ms "
        "(503s are answered at once).",
        f"- Recovery: {overload['recovery_ok']}/{overload['recovery_requests']} sequential requests succeeded right "
        f"after the flood; the first in {overload['recovery_first_ok_ms']} ms.",
        "",
        "## SIGTERM under load",
        "",
        f"{results['plan']['sigterm_description']}",
        "",
        f"- Requests: {shutdown['requests']}; outcomes {shutdown['outcomes']} (`refused`: the port was already "
        "closed; `no_response`: the connection closed before a byte was sent; `partial` would be a half answer).",
        f"- In flight at the signal and completed with 200: {shutdown['in_flight_at_signal']}; malformed answers: "
        f"{shutdown['malformed_answers']}; exit status {shutdown['exit_code']} after {shutdown['exit_seconds']} s.",
        "",
        "## Start-up faults",
        "",
        "| Broken model | Exit | Seconds | One clear line | Ever ready | Survived |",
        "|---|---|---|---|---|---|",
    ]
    for fault in faults:
        lines.append(
            f"| {fault['name']} | {fault['exit_code']} | {fault['seconds']} | {_yes(fault['one_clear_line'])} | "
            f"{'**yes**' if fault['ready_ever_200'] else 'no'} | {_yes(fault['survived'])} |"
        )
    example = next((fault["stderr_lines"][0] for fault in faults if fault["stderr_lines"]), "")
    lines += ["", "Example of the one line:", "", "```", example, "```", ""]
    return "\n".join(lines)
