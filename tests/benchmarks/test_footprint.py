"""Tests for benchmarks.footprint: dependency closures and installed sizes from importlib.metadata."""

from __future__ import annotations

from importlib.metadata import distribution
from pathlib import Path

from packaging.utils import canonicalize_name

from benchmarks.footprint import closure, installed_bytes, runtime_roots, set_size


def test_the_closure_names_distributions_as_pep_503_does() -> None:
    assert "python-multipart" in closure(["Python_Multipart"])


def test_runtime_roots_are_the_project_dependencies_without_tensorflow() -> None:
    names = {canonicalize_name(root.split("==")[0]) for root in runtime_roots()}
    assert "onnxruntime" in names
    assert "starlette" in names
    assert not any(name.startswith("tensorflow") for name in names)


def test_closure_follows_requirements_but_not_unrequested_extras() -> None:
    found = closure(["starlette"])
    assert {"starlette", "anyio"} <= set(found)
    assert "httpx" not in found  # only starlette[full] pulls it in


def test_installed_bytes_sums_the_recorded_files() -> None:
    dist = distribution("tqdm")
    expected = sum(
        Path(str(dist.locate_file(file))).stat().st_size
        for file in dist.files or []
        if Path(str(dist.locate_file(file))).exists()
    )
    assert installed_bytes(dist) == expected > 0


def test_set_size_ranks_the_largest_first() -> None:
    summary = set_size(closure(["starlette"]))
    sizes = [item["mb"] for item in summary["largest"]]
    assert sizes == sorted(sizes, reverse=True)
    assert summary["mb"] >= sum(sizes) - 1e-9
    assert summary["distributions"] == len(summary["names"])
