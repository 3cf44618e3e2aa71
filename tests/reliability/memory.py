"""Resident memory of a process from /proc: current and peak RSS, and resetting the peak of this process."""

from __future__ import annotations

from pathlib import Path


def status_kib(key: str, pid: int | str = "self") -> int:
    """A ``Vm*`` figure (kB) from ``/proc/<pid>/status``, e.g. ``VmRSS`` or ``VmHWM`` (the peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux ``clear_refs`` 5); False where not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True
