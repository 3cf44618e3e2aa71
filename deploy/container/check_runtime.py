"""Check that the image's runtime set imports and computes: run by the build, and on the built image.

The Dockerfile runs it after the pruning and stripping (a broken wheel fails the build); scripts/image-test.sh
runs it again on the finished image (``python - < check_runtime.py``). Standard library at the top level, so
it also runs where the packages are missing and reports which.

Building linux/arm64 on an x86 machine runs the build under qemu-user, which passes the host's x86
``/proc/cpuinfo`` through; onnxruntime's CPU detection finds no ARM CPU in it and crashes (SIGSEGV, exit 139).
Such a build can only check the rest here; ``--onnxruntime after-build`` says the onnxruntime part is left
to scripts/image-test.sh, which runs this check on the image with an ARM ``/proc/cpuinfo`` mounted. Without
that flag an emulated build stops with this explanation instead of the crash. A native build, or an emulator
that describes an ARM CPU, always checks everything.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Literal

# Everything the service imports at start-up, apart from onnxruntime and the service itself.
PLAIN_MODULES: Final = (
    "numpy",
    "PIL.Image",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "python_multipart",
    "prometheus_client",
    "tqdm",
)
# Loading these runs onnxruntime's CPU detection.
ONNXRUNTIME_MODULES: Final = ("onnxruntime", "service.app")
ARM_MACHINES: Final = frozenset({"aarch64", "arm64", "armv7l", "armv8l"})
CPUINFO: Final = Path("/proc/cpuinfo")

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1

OnnxruntimeCheck = Literal["build", "after-build"]


def cpu_description_is_foreign(machine: str, cpuinfo: str) -> bool:
    """True when an ARM process sees no ARM CPU in ``/proc/cpuinfo`` (qemu-user on an x86 host)."""
    return machine in ARM_MACHINES and "CPU implementer" not in cpuinfo


def import_all(names: Sequence[str]) -> list[str]:
    """Import each module; return ``name: error`` for those that fail."""
    failures = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as error:
            failures.append(f"{name}: {type(error).__name__}: {error}")
    return failures


def check(onnxruntime_check: OnnxruntimeCheck, machine: str, cpuinfo: str) -> int:
    """Import and exercise the runtime set; print what was checked; return the exit status."""
    failures = import_all(PLAIN_MODULES)
    if failures:
        print("check_runtime: FAIL", *failures, sep="\n  ", file=sys.stderr)
        return EXIT_FAILED
    import numpy

    product = numpy.ones((4, 4)) @ numpy.ones((4, 4))
    if float(product.sum()) != 64.0:
        print(f"check_runtime: FAIL numpy computes {product.sum()} for a 4x4 ones product, not 64", file=sys.stderr)
        return EXIT_FAILED
    print(f"check_runtime: ok   {', '.join(PLAIN_MODULES)} import on {machine}; numpy {numpy.__version__} computes")

    if cpu_description_is_foreign(machine, cpuinfo):
        reason = f"this {machine} process runs under qemu-user, and /proc/cpuinfo describes the host's CPU"
        if onnxruntime_check == "after-build":
            deferred = ", ".join(ONNXRUNTIME_MODULES)
            print(f"check_runtime: deferred {deferred}: {reason}; scripts/image-test.sh checks them on the image")
            return EXIT_OK
        print(
            f"check_runtime: FAIL cannot import onnxruntime here: {reason}, and onnxruntime's CPU detection "
            "crashes (SIGSEGV) on that. "
            "Build with --build-arg ONNXRUNTIME_CHECK=after-build and check the image with "
            "`bash scripts/image-test.sh --arch arm64` (make image ARCH=arm64 does both).",
            file=sys.stderr,
        )
        return EXIT_FAILED

    failures = import_all(ONNXRUNTIME_MODULES)
    if failures:
        print("check_runtime: FAIL", *failures, sep="\n  ", file=sys.stderr)
        return EXIT_FAILED
    from importlib.metadata import version

    import onnxruntime

    providers = onnxruntime.get_available_providers()
    if "CPUExecutionProvider" not in providers:
        print(f"check_runtime: FAIL onnxruntime has no CPUExecutionProvider: {providers}", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"check_runtime: ok   cifar10-serving {version('cifar10-serving')}, onnxruntime {onnxruntime.__version__} "
        f"{providers} on {machine}"
    )
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (the Dockerfile's build check, and scripts/image-test.sh on the image)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--onnxruntime",
        choices=("build", "after-build"),
        default="build",
        help="after-build: under qemu-user with a foreign /proc/cpuinfo, leave the onnxruntime part to the image check",
    )
    arguments = parser.parse_args(argv)
    try:
        cpuinfo = CPUINFO.read_text(errors="replace")
    except OSError:
        cpuinfo = ""
    return check(arguments.onnxruntime, platform.machine(), cpuinfo)


if __name__ == "__main__":
    sys.exit(main())
