"""The lean FP32 graph: the same answers as tf2onnx's graph, in fewer nodes, with the export's metadata."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest

pytestmark = pytest.mark.tensorflow
pytest.importorskip("keras")

from export.fp32_graph import lean_copy  # noqa: E402
from export.int8_graph import build_int8_graph  # noqa: E402
from export.verify import onnx_probabilities, onnx_session  # noqa: E402


@pytest.fixture(scope="module")
def exported(keras_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import keras

    from export.onnx_export import export_onnx

    path = tmp_path_factory.mktemp("fp32") / "tf2onnx.onnx"
    export_onnx(keras.models.load_model(keras_file), path, temperature=2.0, metadata={"labels": '["a"]'})
    return path


@pytest.fixture(scope="module")
def lean(exported: Path) -> Path:
    path = exported.with_name("lean.onnx")
    onnx.save(lean_copy(onnx.load(str(exported))), str(path))
    return path


def images(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)


def test_the_lean_graph_answers_as_tf2onnx_graph_does(exported: Path, lean: Path) -> None:
    x = images(300, 0)
    reference, answers = onnx_probabilities(onnx_session(exported), x), onnx_probabilities(onnx_session(lean), x)
    assert np.abs(reference - answers).max() < 1e-5  # the export's own parity limit against Keras
    assert np.array_equal(reference.argmax(axis=1), answers.argmax(axis=1))


def test_the_lean_graph_does_no_shape_work_and_no_rescale(exported: Path, lean: Path) -> None:
    ops = Counter(node.op_type for node in onnx.load(str(lean)).graph.node)
    assert not {"Shape", "Gather", "Slice", "Concat", "Mul"} & set(ops)  # the flatten shape is a constant
    assert ops["Transpose"] == 1 and ops["Cast"] == 1  # the pixels to channels-first, nothing back
    assert len(onnx.load(str(lean)).graph.node) < len(onnx.load(str(exported)).graph.node)


def test_the_lean_graph_keeps_the_export_metadata(exported: Path, lean: Path) -> None:
    def metadata(path: Path) -> dict[str, str]:
        return dict(onnx_session(path).get_modelmeta().custom_metadata_map)

    assert metadata(lean) == metadata(exported) and metadata(lean)["labels"] == '["a"]'


def test_int8_from_the_lean_graph_matches_int8_from_tf2onnx_graph(exported: Path, lean: Path, tmp_path: Path) -> None:
    """Both read back to the same layers, so the INT8 builder gives the same model from either."""
    calibration, x = images(128, 1), images(300, 2)
    from_exported = build_int8_graph(exported, tmp_path / "a.onnx", calibration, fp32_stem=True)
    from_lean = build_int8_graph(lean, tmp_path / "b.onnx", calibration, fp32_stem=True)
    a, b = onnx_probabilities(onnx_session(from_exported), x), onnx_probabilities(onnx_session(from_lean), x)
    assert np.abs(a - b).max() < 1e-3 and (a.argmax(axis=1) == b.argmax(axis=1)).mean() > 0.99
