"""Keras → ONNX: the contract (names, dtype, dynamic batch), metadata, parity and temperature folding."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.tensorflow
keras = pytest.importorskip("keras")

from export.onnx_export import export_onnx, keras_reference  # noqa: E402
from export.verify import ParityError, compare, onnx_probabilities, onnx_session  # noqa: E402
from service import contract  # noqa: E402
from training.data import file_sha256  # noqa: E402


@pytest.fixture(scope="module")
def exported(keras_file: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[keras.Model, Path]:
    model = keras.models.load_model(keras_file)
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    export_onnx(model, path, metadata={contract.META_LABELS: json.dumps(["a"] * 10), "extra": "x"})
    return model, path


def images(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)


def test_graph_has_the_contract_names_dtypes_and_dynamic_batch(exported: tuple[keras.Model, Path]) -> None:
    _, path = exported
    session = onnx_session(path)
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.type, inp.shape) == ("image", "tensor(uint8)", ["N", 32, 32, 3])
    assert (out.name, out.type, out.shape) == ("probabilities", "tensor(float)", ["N", 10])
    for n in (1, 7):
        assert onnx_probabilities(session, images(n)).shape == (n, 10)


def test_metadata_makes_the_file_self_describing(exported: tuple[keras.Model, Path]) -> None:
    _, path = exported
    meta = onnx_session(path).get_modelmeta().custom_metadata_map
    assert meta["precision"] == "fp32" and meta["model_name"] == "cifar10-cnn"
    assert json.loads(meta["labels"]) == ["a"] * 10 and meta["extra"] == "x"
    assert meta["opset"] == str(contract.OPSET) and float(meta["temperature"]) == 1.0
    assert set(json.loads(meta["export_versions"])) >= {"tensorflow", "tf2onnx", "keras", "onnx"}
    assert "uint8" in meta["input_contract"]


def test_onnx_matches_keras_predict(exported: tuple[keras.Model, Path]) -> None:
    model, path = exported
    x = images(64)
    parity = compare(model.predict(x.astype(np.float32), verbose=0), onnx_probabilities(onnx_session(path), x))
    parity.check()
    assert parity.top1_agreement == 1.0 and parity.max_abs_diff <= 1e-5


def test_temperature_is_folded_into_the_softmax(keras_file: Path, tmp_path: Path) -> None:
    model = keras.models.load_model(keras_file)
    path = tmp_path / "tempered.onnx"
    export_onnx(model, path, temperature=2.0)
    x = images(32, seed=1)
    tempered = onnx_probabilities(onnx_session(path), x)
    compare(keras_reference(model, x, temperature=2.0), tempered).check()
    plain = model.predict(x.astype(np.float32), verbose=0)
    # same ranking, flatter distribution, exactly softmax(log p / T)
    assert (tempered.argmax(1) == plain.argmax(1)).all()
    expected = np.exp(np.log(plain.astype(np.float64)) / 2.0)
    np.testing.assert_allclose(tempered, expected / expected.sum(axis=1, keepdims=True), atol=1e-5)


def test_parity_check_fails_loudly_on_a_difference() -> None:
    reference = np.eye(10, dtype=np.float32)[[0, 1, 2]]
    with pytest.raises(ParityError, match="max"):
        compare(reference, reference + 1e-4).check()
    swapped = reference[[1, 0, 2]]
    with pytest.raises(ParityError, match="agreement"):
        compare(reference, swapped).check()


def test_misuse_raises_value_error(tmp_path: Path) -> None:
    wrong = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, "softmax")])
    with pytest.raises(ValueError, match="input shape"):
        export_onnx(wrong, tmp_path / "x.onnx")
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
    with pytest.raises(ValueError, match="softmax"):
        export_onnx(model, tmp_path / "x.onnx")


def test_export_is_reproducible(keras_file: Path, tmp_path: Path) -> None:
    model = keras.models.load_model(keras_file)
    export_onnx(model, tmp_path / "a.onnx")
    export_onnx(model, tmp_path / "b.onnx")
    assert file_sha256(tmp_path / "a.onnx") == file_sha256(tmp_path / "b.onnx")


def test_exact_ties_are_counted_not_failed_but_real_flips_fail() -> None:
    reference = np.array([[0.4, 0.4, 0.2], [0.7, 0.2, 0.1]], dtype=np.float32)
    tie_flipped = np.array([[0.399999, 0.400001, 0.2], [0.7, 0.2, 0.1]], dtype=np.float32)
    parity = compare(reference, tie_flipped)
    assert parity.top1_agreement == 0.5 and parity.ties == 1 and parity.decided_agreement == 1.0
    parity.check()
    decided_flip = np.array([[0.4, 0.4, 0.2], [0.2, 0.7, 0.1]], dtype=np.float32)
    with pytest.raises(ParityError, match="agreement"):
        compare(reference, decided_flip, tie_margin=2e-5).check(max_abs_diff=1.0)
