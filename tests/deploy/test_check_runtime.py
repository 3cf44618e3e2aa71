"""deploy/container/check_runtime.py: the image's runtime check, and when it defers the onnxruntime part."""

from __future__ import annotations

import pytest

from deploy.container.check_runtime import EXIT_FAILED, EXIT_OK, check, cpu_description_is_foreign

# The first lines of a real x86 host's /proc/cpuinfo, as qemu-user shows it to an arm64 process.
X86_CPUINFO = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nflags\t\t: fpu vme de pse tsc msr sse2\n"
# What an arm64 Linux kernel shows (and what scripts/lib.sh bind-mounts for emulated runs).
ARM_CPUINFO = (
    "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics\n"
    "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x3\nCPU part\t: 0xd0c\nCPU revision\t: 1\n"
)


@pytest.mark.parametrize(
    ("machine", "cpuinfo", "foreign"),
    [
        ("aarch64", X86_CPUINFO, True),
        ("aarch64", "", True),
        ("aarch64", ARM_CPUINFO, False),
        ("x86_64", X86_CPUINFO, False),
        ("x86_64", "", False),
    ],
)
def test_only_an_arm_process_without_an_arm_cpu_description_is_foreign(
    machine: str, cpuinfo: str, foreign: bool
) -> None:
    assert cpu_description_is_foreign(machine, cpuinfo) is foreign


def test_native_check_imports_onnxruntime_and_the_service(capsys: pytest.CaptureFixture[str]) -> None:
    assert check("build", "x86_64", X86_CPUINFO) == EXIT_OK
    out = capsys.readouterr().out
    assert "numpy" in out and "computes" in out
    assert "onnxruntime" in out and "CPUExecutionProvider" in out and "cifar10-serving" in out


def test_after_build_changes_nothing_where_onnxruntime_can_load(capsys: pytest.CaptureFixture[str]) -> None:
    assert check("after-build", "aarch64", ARM_CPUINFO) == EXIT_OK
    out = capsys.readouterr().out
    assert "CPUExecutionProvider" in out and "deferred" not in out


def test_an_emulated_build_stops_with_the_reason_instead_of_crashing(capsys: pytest.CaptureFixture[str]) -> None:
    assert check("build", "aarch64", X86_CPUINFO) == EXIT_FAILED
    captured = capsys.readouterr()
    assert "qemu-user" in captured.err and "ONNXRUNTIME_CHECK=after-build" in captured.err
    assert "CPUExecutionProvider" not in captured.out


def test_an_emulated_build_defers_only_the_onnxruntime_part(capsys: pytest.CaptureFixture[str]) -> None:
    assert check("after-build", "aarch64", X86_CPUINFO) == EXIT_OK
    out = capsys.readouterr().out
    assert "numpy" in out and "computes" in out, "the rest of the runtime set is still checked"
    assert "deferred onnxruntime, service.app" in out and "scripts/image-test.sh" in out
