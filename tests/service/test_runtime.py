"""The onnxruntime model wrapper: loading, metadata, contract checks, session options, predictions."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import ClassVar

import numpy as np
import onnxruntime as ort
import pytest

from service.errors import ModelLoadError
from service.pipeline import load_model
from service.runtime import ONNXRUNTIME_VERSION, OnnxModel, SessionConfig
from service.settings import Settings
from tests.conftest import LABELS, build_tiny_model


def test_loads_metadata_and_version(tiny_model_path: Path) -> None:
    model = OnnxModel.load(tiny_model_path)
    info = model.info
    assert model.labels == LABELS
    assert info.name == "cifar10-cnn"
    assert info.precision == "fp32"
    assert info.sha256 == hashlib.sha256(tiny_model_path.read_bytes()).hexdigest()
    assert info.version == info.sha256[:12]
    assert ort.__version__ == ONNXRUNTIME_VERSION
    assert info.metadata["opset"] == "17"


def test_predict_matches_a_plain_session(tiny_model_path: Path) -> None:
    model = OnnxModel.load(tiny_model_path)
    batch = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    expected = ort.InferenceSession(str(tiny_model_path)).run(None, {"image": batch})[0]
    result = model.predict(batch)
    assert result.dtype == np.float32
    assert result.shape == (5, 10)
    np.testing.assert_allclose(result, expected, rtol=1e-6)
    red = np.zeros((1, 32, 32, 3), dtype=np.uint8)
    red[..., 0] = 255
    assert int(model.predict(red).argmax()) == 0


def test_warm_up_runs_every_size(tiny_model_path: Path) -> None:
    class CountingModel(OnnxModel):
        sizes: ClassVar[list[int]] = []

        def predict(self, batch: np.ndarray) -> np.ndarray:
            self.sizes.append(len(batch))
            return super().predict(batch)

    CountingModel.load(tiny_model_path).warm_up((1, 7), repeats=2)
    assert CountingModel.sizes == [1, 1, 7, 7]


def test_a_model_that_cannot_run_fails_its_warm_up(tiny_model_path: Path) -> None:
    class FailingModel(OnnxModel):
        def predict(self, batch: np.ndarray) -> np.ndarray:
            raise RuntimeError("kernel exploded\nsecond line")

    with pytest.raises(ModelLoadError, match=r"fails on a test batch of 1: kernel exploded$"):
        FailingModel.load(tiny_model_path).warm_up((1,))


def test_session_options_follow_the_config() -> None:
    options = SessionConfig(intra_op_threads=2, inter_op_threads=3, memory_arena=False, graph_optimization="basic")
    built = options.to_session_options()
    assert (built.intra_op_num_threads, built.inter_op_num_threads) == (2, 3)
    assert built.enable_cpu_mem_arena is False
    assert built.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    assert built.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert built.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_load_model_uses_the_settings(tiny_model_path: Path) -> None:
    model = load_model(Settings(model=str(tiny_model_path), intra_op_threads=2))
    assert model.config.intra_op_threads == 2
    assert model.path == tiny_model_path


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"cannot read model file .*missing\.onnx"):
        OnnxModel.load(tmp_path / "missing.onnx")


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(b"this is not a protobuf")
    with pytest.raises(ModelLoadError, match="cannot load model") as caught:
        OnnxModel.load(path)
    assert "\n" not in str(caught.value)


def test_wrong_input_name(tmp_path: Path) -> None:
    path = build_tiny_model(tmp_path / "m.onnx", input_name="pixels")
    with pytest.raises(ModelLoadError, match="one input named 'image'"):
        OnnxModel.load(path)


def test_wrong_input_dtype(tmp_path: Path) -> None:
    path = build_tiny_model(tmp_path / "m.onnx", input_type="float")
    with pytest.raises(ModelLoadError, match=r"must be uint8 \[N, 32, 32, 3\]"):
        OnnxModel.load(path)


def test_label_count_must_match_the_output(tmp_path: Path) -> None:
    import onnx

    path = build_tiny_model(tmp_path / "m.onnx")
    model = onnx.load(str(path))
    for entry in model.metadata_props:
        if entry.key == "labels":
            entry.value = '["a", "b"]'
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ModelLoadError, match=r"float32 \[N, 2\]"):
        OnnxModel.load(path)


@pytest.mark.parametrize("labels", [None, "not json", '{"a": 1}', "[]", "[1, 2]"])
def test_bad_labels_metadata(tmp_path: Path, labels: str | None) -> None:
    import onnx

    path = build_tiny_model(tmp_path / "m.onnx")
    model = onnx.load(str(path))
    kept = [(entry.key, entry.value) for entry in model.metadata_props if entry.key != "labels"]
    del model.metadata_props[:]
    for key, value in kept + ([("labels", labels)] if labels is not None else []):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ModelLoadError, match="labels"):
        OnnxModel.load(path)


def test_the_allocator_returns_big_buffers_on_glibc() -> None:
    import platform

    from service.memory import tune_allocator

    assert tune_allocator() is (platform.libc_ver()[0] == "glibc")
