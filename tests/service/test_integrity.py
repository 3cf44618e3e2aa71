"""Refusing a model file whose sha256 is not the expected one: a pinned digest, or manifest.json beside it."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from service.__main__ import EXIT_MODEL_ERROR
from service.errors import ModelLoadError
from service.integrity import verify_sha256
from service.pipeline import load_model
from service.runtime import OnnxModel
from service.settings import Settings, SettingsError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_manifest(folder: Path, entries: dict[str, str]) -> None:
    artifacts = [{"path": name, "sha256": digest, "bytes": 1} for name, digest in entries.items()]
    (folder / "manifest.json").write_text(json.dumps({"artifacts": artifacts}))


@pytest.fixture
def model_copy(tiny_model_path: Path, tmp_path: Path) -> Path:
    """The tiny model alone in its own folder, so each test writes the manifest it needs."""
    return Path(shutil.copy(tiny_model_path, tmp_path / "cifar10_cnn.onnx"))


def test_pinned_digest_must_match(model_copy: Path) -> None:
    digest = _sha256(model_copy)
    assert OnnxModel.load(model_copy, expected_sha256=digest).info.sha256 == digest
    with pytest.raises(ModelLoadError, match=r"expected 0{64} \(CIFAR10_MODEL_SHA256\)"):
        OnnxModel.load(model_copy, expected_sha256="0" * 64)


def test_manifest_beside_the_model_must_agree(model_copy: Path) -> None:
    _write_manifest(model_copy.parent, {model_copy.name: _sha256(model_copy)})
    OnnxModel.load(model_copy, verify_manifest=True)
    _write_manifest(model_copy.parent, {model_copy.name: "e" * 64})  # the file was swapped after the export
    with pytest.raises(ModelLoadError, match=r"manifest\.json records e{64};") as caught:
        OnnxModel.load(model_copy, verify_manifest=True)
    assert "CIFAR10_VERIFY_MANIFEST=false" in str(caught.value)
    with pytest.raises(ModelLoadError):  # the settings switch it on by default
        load_model(Settings(model=str(model_copy)))
    assert load_model(Settings(model=str(model_copy), verify_manifest=False)).info.sha256 == _sha256(model_copy)


def test_no_manifest_or_unlisted_file_is_served(model_copy: Path) -> None:
    verify_sha256(model_copy, _sha256(model_copy), expected=None, use_manifest=True)
    _write_manifest(model_copy.parent, {"other.onnx": "f" * 64})
    OnnxModel.load(model_copy, verify_manifest=True)


@pytest.mark.parametrize("content", ["{not json", '{"artifacts": 3}', '{"artifacts": [{"path": "cifar10_cnn.onnx"}]}'])
def test_unreadable_manifest_is_a_load_error(model_copy: Path, content: str) -> None:
    (model_copy.parent / "manifest.json").write_text(content)
    with pytest.raises(ModelLoadError, match=r"manifest\.json"):
        OnnxModel.load(model_copy, verify_manifest=True)


def test_committed_models_match_the_committed_manifest() -> None:
    for name in ("fp32", "int8"):
        assert load_model(Settings(model=name, models_dir=PROJECT_ROOT / "models")).info.precision == name


@pytest.mark.parametrize("raw", ["abc", "g" * 64, "0" * 63])
def test_pinned_digest_setting_is_validated(raw: str) -> None:
    with pytest.raises(SettingsError, match="CIFAR10_MODEL_SHA256"):
        Settings.from_environ({"CIFAR10_MODEL_SHA256": raw})
    assert Settings.from_environ({"CIFAR10_MODEL_SHA256": "AB" * 32}).model_sha256 == "ab" * 32
    assert Settings.from_environ({"CIFAR10_MODEL_SHA256": ""}).model_sha256 is None


def test_mismatch_stops_the_server_with_one_line(model_copy: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "service", "--model", str(model_copy), "--port", "0"],
        cwd=PROJECT_ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "CIFAR10_MODEL_SHA256": "1" * 64},
    )
    assert result.returncode == EXIT_MODEL_ERROR
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "CIFAR10_MODEL_SHA256" in lines[0], result.stderr


def test_a_manifest_written_by_the_export_is_the_one_the_service_checks(model_copy: Path) -> None:
    from export.manifest import MANIFEST_NAME, write_manifest
    from service.integrity import MANIFEST_NAME as SERVICE_MANIFEST_NAME

    assert SERVICE_MANIFEST_NAME == MANIFEST_NAME
    write_manifest(model_copy.parent, {})
    OnnxModel.load(model_copy, verify_manifest=True)
    model_copy.write_bytes(model_copy.read_bytes() + b"\0")
    with pytest.raises(ModelLoadError, match="records"):
        verify_sha256(model_copy, _sha256(model_copy), expected=None, use_manifest=True)


def test_pinned_digest_is_stored_lowercase_however_it_is_given() -> None:
    assert Settings(model_sha256="AB" * 32).model_sha256 == "ab" * 32


def test_deeply_nested_manifest_is_one_clear_error(model_copy: Path) -> None:
    (model_copy.parent / "manifest.json").write_text("[" * 100_000)
    with pytest.raises(ModelLoadError, match=r"manifest\.json"):
        OnnxModel.load(model_copy, verify_manifest=True)
