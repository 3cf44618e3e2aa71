"""The hand-written INT8 graphs: integer kernels where they should be, answers that track FP32."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest

pytestmark = pytest.mark.tensorflow
pytest.importorskip("keras")

from export.int8_graph import build_int8_graph, per_channel_int8  # noqa: E402
from export.quantize import QuantRecipe, quantize  # noqa: E402
from export.verify import check_distribution, onnx_probabilities, onnx_session  # noqa: E402


@pytest.fixture(scope="module")
def fp32(keras_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import keras

    from export.onnx_export import export_onnx

    path = tmp_path_factory.mktemp("int8") / "m.onnx"
    export_onnx(keras.models.load_model(keras_file), path)
    return path


def images(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)


@pytest.mark.parametrize(("fp32_stem", "integer_convolutions"), [(False, 2), (True, 1)])
def test_the_graph_runs_in_integer_kernels_and_tracks_fp32(
    fp32: Path, tmp_path: Path, fp32_stem: bool, integer_convolutions: int
) -> None:
    path = build_int8_graph(fp32, tmp_path / "m.int8.onnx", images(256, 0), fp32_stem=fp32_stem)
    ops = Counter(node.op_type for node in onnx.load(str(path)).graph.node)
    assert ops["QLinearConv"] == integer_convolutions and ops["Conv"] == 2 - integer_convolutions
    assert ops["QGemm"] == 2  # both dense layers
    assert ops["DequantizeLinear"] == 0  # no float detours between the integer layers
    assert ops["QuantizeLinear"] == (1 if fp32_stem else 0)  # the pixels go in as they are
    x = images(300, 1)
    reference, answers = onnx_probabilities(onnx_session(fp32), x), onnx_probabilities(onnx_session(path), x)
    # untrained weights answer near 1/10: the error is held against how far FP32 moves from that
    assert 0 < np.abs(reference - answers).max() < 0.1 * np.abs(reference - 0.1).max()
    assert (reference.argmax(axis=1) == answers.argmax(axis=1)).mean() > 0.9
    check_distribution(answers, "INT8")


def test_a_wrong_scale_would_be_caught(fp32: Path, tmp_path: Path) -> None:
    """The tolerance above can fail: calibrating on black images saturates every activation."""
    path = build_int8_graph(fp32, tmp_path / "m.int8.onnx", np.zeros((8, 32, 32, 3), np.uint8), fp32_stem=False)
    x = images(300, 1)
    reference, answers = onnx_probabilities(onnx_session(fp32), x), onnx_probabilities(onnx_session(path), x)
    assert np.abs(reference - answers).max() > 0.1 * np.abs(reference - 0.1).max()
    assert (reference.argmax(axis=1) == answers.argmax(axis=1)).mean() < 0.9


def test_per_channel_weights_round_trip_within_half_a_step() -> None:
    weights = np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32) * [
        [[[1]]],
        [[[10]]],
        [[[0.1]]],
        [[[3]]],
    ]
    quantized, scale = per_channel_int8(weights, axis=0)
    assert quantized.dtype == np.int8 and scale.shape == (4,)
    assert np.abs(quantized).max(axis=(1, 2, 3)).tolist() == [127] * 4  # each channel uses its whole range
    assert np.all(np.abs(quantized * scale[:, None, None, None] - weights) <= scale[:, None, None, None] / 2 + 1e-7)


def test_a_direct_recipe_with_settings_it_cannot_honour_is_refused(fp32: Path, tmp_path: Path) -> None:
    recipe = QuantRecipe("bad", calibration_images=8, quant_format="Direct", activation_type="QInt8")
    with pytest.raises(ValueError, match="u8 activations"):
        quantize(fp32, tmp_path / "x.onnx", images(8, 0), recipe)
