"""Reading the seed CNN back from a graph: tf2onnx's and the lean FP32 one read the same, other graphs are refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

pytestmark = pytest.mark.tensorflow
pytest.importorskip("keras")

from export.fp32_graph import build_fp32_graph  # noqa: E402
from export.seed_graph import read_seed_graph  # noqa: E402


@pytest.fixture(scope="module")
def exported(keras_file: Path, tmp_path_factory: pytest.TempPathFactory) -> onnx.ModelProto:
    import keras

    from export.onnx_export import export_onnx

    path = tmp_path_factory.mktemp("seed") / "m.onnx"
    return export_onnx(keras.models.load_model(keras_file), path, temperature=2.0)


def test_tf2onnx_graph_reads_as_the_keras_model(exported: onnx.ModelProto, keras_file: Path) -> None:
    import keras

    seed = read_seed_graph(exported)
    model = keras.models.load_model(keras_file)
    assert seed.pixel_scale == pytest.approx(1 / 255) and seed.pixel_offset == 0.0
    assert seed.logit_scale == pytest.approx(0.5)  # 1 / temperature
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    for (weights, bias), layer in zip(seed.dense, dense, strict=True):  # Keras's own row order
        assert np.array_equal(weights, layer.kernel.numpy()) and np.array_equal(bias, layer.bias.numpy())


def test_the_lean_graph_reads_back_to_the_same_layers(exported: onnx.ModelProto) -> None:
    seed = read_seed_graph(exported)
    again = read_seed_graph(build_fp32_graph(seed))
    # its first dense layer flattens channels-first: reading puts the rows back in Keras's order
    assert np.array_equal(again.dense[0][0], seed.dense[0][0])
    assert np.array_equal(again.convolutions[1][0], seed.convolutions[1][0])
    # the rescale and the temperature are folded in: the lean graph reads as scale 1 with the weights scaled
    assert (again.pixel_scale, again.pixel_offset, again.logit_scale) == (1.0, 0.0, 1.0)
    assert np.allclose(again.convolutions[0][0], seed.convolutions[0][0] * seed.pixel_scale)
    assert np.allclose(again.dense[1][0], seed.dense[1][0] * seed.logit_scale)


def test_a_graph_that_is_not_the_seed_cnn_is_refused() -> None:
    graph = helper.make_graph(
        [helper.make_node("Softmax", ["x"], ["y"])],
        "other",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
    )
    with pytest.raises(ValueError, match="not the seed CNN"):
        read_seed_graph(helper.make_model(graph))


@pytest.mark.parametrize(
    ("op", "attribute"),
    [("Conv", helper.make_attribute("pads", [1, 1, 1, 1])), ("MaxPool", helper.make_attribute("strides", [1, 1]))],
)
def test_padded_convolutions_and_other_pools_are_refused(
    exported: onnx.ModelProto, op: str, attribute: onnx.AttributeProto
) -> None:
    """The folds assume the seed's layers: a padded first convolution would see zeros the rescale never offset."""
    changed = onnx.ModelProto()
    changed.CopyFrom(exported)
    node = next(n for n in changed.graph.node if n.op_type == op)
    kept = [a for a in node.attribute if a.name != attribute.name]
    del node.attribute[:]
    node.attribute.extend([*kept, attribute])
    with pytest.raises(ValueError, match="without padding"):
        read_seed_graph(changed)
