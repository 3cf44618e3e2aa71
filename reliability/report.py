"""Render ``RELIABILITY.md`` from the reliability results JSON."""

from __future__ import annotations

from typing import Any

from benchmarks.markdown import fixed, table


def _yes(value: object) -> str:
    return "yes" if value else "**NO**"


def render(results: dict[str, Any]) -> str:
    """The Markdown report."""
    machine, plan = results["machine"], results["plan"]
    hostile, soak, overload, cost = results["hostile_inputs"], results["soak"], results["overload"], results["cost"]
    shutdown, faults = results["sigterm"], results["startup_faults"]
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    lines = [
        "# Reliability and security figures",
        "",
        f"Produced by `python -m reliability{' --quick' if results['quick'] else ''}` on "
        f"{machine['date']} (git {machine.get('git_revision') or 'n/a'}); do not edit by hand, re-run the command.",
        "",
        f"Machine: {machine['cpu_model']}, {machine['logical_cores']} logical cores "
        f"({len(machine['usable_cpus'])} usable), {machine['memory_total_mib']:.0f} MiB RAM, Linux "
        f"{machine['kernel']}, Python {machine['python']}. Load before the run: `{results['uptime']}`. "
        "The machine is shared with other work, so latency figures (and the latency targets' verdicts) are "
        "indicative; the other verdicts are not.",
        "",
        f"Versions: {versions}.",
        "",
        "## Summary",
        "",
        table(["Check", "Result"], _summary(results)),
        "",
        "## Cost per request",
        "",
        *_cost(cost),
        "",
        "## Hostile inputs",
        "",
        table(
            ["Case", "Expected", "Got", "Latency (ms)", "OK"],
            [
                (
                    case["name"],
                    f"{case['expected_status']} {case['expected_code']}",
                    f"{case['status']} {case['code']}",
                    f"{case['ms']:.1f}",
                    _yes(case["ok"]),
                )
                for case in hostile["results"]
            ],
        ),
        "",
        "## Soak",
        "",
        *_soak(soak, plan),
        "",
        "## Overload",
        "",
        plan["overload_description"],
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
        plan["sigterm_description"],
        "",
        f"- Requests: {shutdown['requests']}; outcomes {shutdown['outcomes']} (`refused`: the port was already "
        "closed; `no_response`: the connection closed before a byte was sent; `partial` would be a half answer).",
        f"- In flight at the signal and completed with 200: {shutdown['in_flight_at_signal']}; malformed answers: "
        f"{shutdown['malformed_answers']}; exit status {shutdown['exit_code']} after {shutdown['exit_seconds']} s.",
        "",
        "## Start-up faults",
        "",
        table(
            ["Broken model", "Exit", "Seconds", "One clear line", "Ever ready", "Survived"],
            [
                (
                    fault["name"],
                    fault["exit_code"],
                    str(fault["seconds"]),
                    _yes(fault["one_clear_line"]),
                    "**yes**" if fault["ready_ever_200"] else "no",
                    _yes(fault["survived"]),
                )
                for fault in faults
            ],
        ),
        "",
        "Example of the one line:",
        "",
        "```",
        next((fault["stderr_lines"][0] for fault in faults if fault["stderr_lines"]), ""),
        "```",
        "",
    ]
    return "\n".join(lines)


def _summary(results: dict[str, Any]) -> list[tuple[str, str]]:
    """One row per check: what it checks, and the verdict with the figures behind it."""
    hostile, soak, overload, cost = results["hostile_inputs"], results["soak"], results["overload"], results["cost"]
    shutdown, faults = results["sigterm"], results["startup_faults"]
    if "skipped" in soak:
        soak_row = ("Soak", f"skipped: {soak['skipped']}")
    else:
        soak_row = (
            f"Soak: {soak['seconds']:.0f} s at concurrency {soak['concurrency']} (hey)",
            f"{sum(soak['server_side_statuses'].values())} requests served, {soak['requests_per_s']:.0f} req/s, "
            f"errors {soak['errors']}, non-2xx {soak['non_2xx']}; RSS drift {soak['rss_drift_mib']:+.1f} MiB "
            f"({soak['rss_drift_percent']:+.1f} %)",
        )
    return [
        (
            "Hostile inputs refused as documented",
            f"{hostile['passed']}/{hostile['cases']} (slowest {hostile['slowest_ms']:.1f} ms; "
            f"server peak RSS +{hostile['peak_rss_growth_mib']:.1f} MiB)",
        ),
        (
            "Cost per request: attacks answered as expected; targets met",
            f"{sum(case['ok'] for case in cost['cases'])}/{len(cost['cases'])}; "
            f"{sum(target['met'] for target in cost['targets'])}/{len(cost['targets'])}",
        ),
        soak_row,
        (
            "Overload sheds with 503 and recovers",
            f"{_yes(overload['shed_and_recovered'])}: {overload['shed_share'] * 100:.1f} % shed, "
            f"recovery {overload['recovery_ok']}/{overload['recovery_requests']}",
        ),
        (
            "SIGTERM under load: nothing half-answered, exit 0",
            f"{_yes(shutdown['clean'])}: {shutdown['in_flight_at_signal']} in-flight completed, "
            f"exit {shutdown['exit_code']} in {shutdown['exit_seconds']} s",
        ),
        (
            "Broken model at start-up: one line, non-zero exit, never ready",
            f"{sum(fault['survived'] for fault in faults)}/{len(faults)}",
        ),
    ]


def _soak(soak: dict[str, Any], plan: dict[str, Any]) -> list[str]:
    """The soak's paragraph and figures."""
    if "skipped" in soak:
        return [f"Skipped: {soak['skipped']}."]
    latency = ", ".join(
        f"{key[:-3]} {soak[key]:.1f} ms" for key in ("p50_ms", "p95_ms", "p99_ms") if soak[key] is not None
    )
    rss = soak["rss_mib"]
    return [
        f"`POST /predict` with a 32x32 JPEG, {soak['concurrency']} concurrent connections for {soak['seconds']:.0f} s "
        f"on loopback after a {plan['warm_up_s']:.0f} s warm-up, FP32 model, dynamic batching on, access log off.",
        "",
        f"- Requests: {soak['requests']} ({soak['requests_per_s']:.0f}/s); hey's status tally (it keeps "
        f"at most a million) {soak['status_codes']}; transport errors {soak['errors']}; the server's own counters "
        f"for the soak: {soak['server_side_statuses']}; zero errors: {_yes(soak['zero_errors'])}.",
        f"- Latency: {latency}.",
        f"- Resident memory (MiB): start {rss['start']}, middle {rss['middle']}, end {rss['end']}, max {rss['max']}; "
        f"drift {soak['rss_drift_mib']:+.1f} MiB ({soak['rss_drift_percent']:+.1f} %).",
    ]


def _answers(answers: dict[str, int]) -> str:
    return ", ".join(kind if count == 1 else f"{kind} ×{count}" for kind, count in answers.items()) or "none"


def _cost(cost: dict[str, Any]) -> list[str]:
    """The cost section: how it was measured, the targets, one row per attack, the keep-alive shutdown."""
    shutdown, baseline = cost["shutdown"], cost["baseline"]
    rows = [
        (
            case["name"],
            case["cost_class"] + (", admitted" if case["admitted"] else ""),
            _answers(dict.fromkeys(case["expected"], 1)),
            _answers(case["answers"]) + ("" if case["ok"] else " **(unexpected)**"),
            fixed(case["seconds"], 3),
            fixed(case["cpu_s"], 3),
            fixed(case["peak_rss_growth_mib"], 1),
            fixed(case["probe_worst_ms"], 1),
            _answers(case["probe_failures"]) if case["probe_failures"] else "",
        )
        for case in cost["cases"]
    ]
    return [
        cost["description"],
        "",
        f"Baseline (the probe alone, {baseline['probes']} probes): worst {baseline['probe_worst_ms']} ms.",
        "",
        table(
            ["Target", "Met", "Missed by"],
            [(target["target"], _yes(target["met"]), "; ".join(target["misses"])) for target in cost["targets"]],
        ),
        "",
        table(
            [
                "Attack",
                "Class",
                "Expected",
                "Got",
                "Seconds",
                "CPU s",
                "Peak RSS +MiB",
                "Worst /predict ms",
                "Probe refused",
            ],
            rows,
        ),
        "",
        f"Idle resident memory: {cost['idle_rss_start_mib']} MiB after the warm-up, {cost['idle_rss_end_mib']} MiB "
        "a few seconds after the last attack.",
        "",
        f"SIGTERM under keep-alive load: {shutdown['clients']} clients on keep-alive connections (opened again "
        f"after each `Connection: close`) send `POST /predict` until the server has exited, with the default "
        f"{shutdown['drain_s']:g} s drain window. Requests {shutdown['requests']}; outcomes {shutdown['outcomes']}; "
        f"sent but unanswered (reset or closed): {shutdown['unanswered']}; exit status {shutdown['exit_code']} "
        f"after {shutdown['exit_seconds']} s.",
    ]
