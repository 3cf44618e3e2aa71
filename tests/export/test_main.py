"""`python -m export` end to end on a tiny dataset: FP32 + parity + INT8 + report + manifest."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.tensorflow
pytest.importorskip("keras")

from export.__main__ import _better, main  # noqa: E402
from export.quantize import QuantRecipe, quantize  # noqa: E402
from export.verify import ParityError, check_distribution, compare, onnx_probabilities, onnx_session  # noqa: E402
from tests.training.conftest import write_dataset  # noqa: E402
from training.data import file_sha256  # noqa: E402


@pytest.mark.slow  # two whole exports
def test_export_command_writes_models_report_and_manifest(keras_file: Path, tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", train_per_class=8, test_per_class=3)
    out = tmp_path / "models"
    argv = [
        "--keras", str(keras_file), "--output-dir", str(out), "--data", str(data),
        "--evaluation", str(tmp_path / "none.json"), "--validation-size", "20",
        "--calibration-images", "32", "--recipes", "minmax-s8s8-per-channel-512", "--quiet",
    ]  # fmt: skip
    assert main(argv) == 0
    report = json.loads((out / "export.json").read_text())
    assert report["parity"]["top1_agreement"] == 1.0 and report["parity"]["max_abs_diff"] <= 1e-5
    assert report["parity"]["images"] == 30
    assert report["int8"]["recipe"] == "minmax-s8s8-per-channel-512"
    meta = onnx_session(out / "cifar10_cnn.int8.onnx").get_modelmeta().custom_metadata_map
    assert meta["precision"] == "int8" and json.loads(meta["labels"])[0] == "Aeroplane"
    assert meta["source_keras_sha256"] == file_sha256(keras_file)
    manifest = json.loads((out / "manifest.json").read_text())
    listed = {a["path"]: a for a in manifest["artifacts"]}
    assert set(listed) == {"cifar10_cnn.onnx", "cifar10_cnn.int8.onnx", "export.json"}
    for name, entry in listed.items():
        assert entry["sha256"] == file_sha256(out / name) and entry["bytes"] == (out / name).stat().st_size
    first = file_sha256(out / "cifar10_cnn.onnx")
    assert main(argv) == 0  # same inputs → same FP32 file
    assert file_sha256(out / "cifar10_cnn.onnx") == first


def test_export_fails_when_parity_cannot_hold(
    keras_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_dataset(tmp_path / "data", train_per_class=3, test_per_class=2)
    # a temperature in the export but not in the reference is a real, detectable mismatch
    import export.__main__ as cli

    original = cli.keras_reference
    try:
        cli.keras_reference = lambda model, x, temperature: original(model, x, temperature * 3)  # type: ignore[assignment]
        code = main(["--keras", str(keras_file), "--output-dir", str(tmp_path / "m"), "--data", str(data),
                     "--evaluation", str(tmp_path / "none.json"), "--validation-size", "10", "--skip-int8",
                     "--temperature", "2.0", "--quiet"])  # fmt: skip
    finally:
        cli.keras_reference = original
    assert code == 1
    assert "parity failed" in capsys.readouterr().err


def test_int8_model_tracks_fp32(keras_file: Path, tmp_path: Path) -> None:
    import keras

    from export.onnx_export import export_onnx

    fp32 = tmp_path / "m.onnx"
    export_onnx(keras.models.load_model(keras_file), fp32)
    rng = np.random.default_rng(0)
    calibration = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    int8 = quantize(fp32, tmp_path / "m.int8.onnx", calibration, QuantRecipe("t", calibration_images=64))
    x = rng.integers(0, 256, (200, 32, 32, 3), dtype=np.uint8)
    a, b = onnx_probabilities(onnx_session(fp32), x), onnx_probabilities(onnx_session(int8), x)
    # untrained weights give near-uniform outputs, so only a loose bound is meaningful here
    assert np.abs(a - b).max() < 0.05
    assert compare(a, b).max_abs_diff > 0  # it really is a different (quantized) graph
    # the Softmax stays in float, so INT8 answers are still distributions (a quantized one is off by ~1e-2)
    np.testing.assert_allclose(b.sum(axis=1), 1.0, atol=1e-5)
    check_distribution(b, "INT8")


def test_check_distribution_refuses_rows_that_do_not_sum_to_one() -> None:
    good = np.full((3, 10), 0.1, dtype=np.float32)
    check_distribution(good, "good")
    bad = good.copy()
    bad[1, 0] += 4 / 255  # what a quantized softmax output looks like
    with pytest.raises(ParityError, match="not a probability distribution"):
        check_distribution(bad, "INT8")


def test_the_fastest_recipe_that_holds_the_agreement_target_is_kept() -> None:
    slow_close = {"validation_agreement": 0.995, "slowest_speedup": 1.1}
    fast_close = {"validation_agreement": 0.991, "slowest_speedup": 1.6}
    fastest_off = {"validation_agreement": 0.98, "slowest_speedup": 2.0}
    assert _better(fast_close, slow_close) and not _better(slow_close, fast_close)
    assert not _better(fastest_off, slow_close) and _better(slow_close, fastest_off)
    # when none holds the target, the closest to FP32 is kept, however fast
    assert _better({"validation_agreement": 0.985, "slowest_speedup": 0.9}, fastest_off)
