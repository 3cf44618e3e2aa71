"""Resetting this process's peak resident memory (read it with :func:`benchmarks.processes.status_kib`)."""

from __future__ import annotations

from pathlib import Path


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux ``clear_refs`` 5); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True
