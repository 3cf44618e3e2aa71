"""Evaluation report for the trained model: accuracy, confusion matrix, confidence bands, calibration."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import keras
import numpy as np

from training import calibration
from training.data import default_source, load_dataset
from training.labels import LABELS


def model_logits(model: keras.Model, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Pre-softmax outputs (float64) of a model whose last layer is Dense + softmax."""
    features = keras.Model(model.inputs, model.layers[-2].output)
    kernel, bias = (np.asarray(w, dtype=np.float64) for w in model.layers[-1].get_weights())
    hidden = features.predict(images.astype(np.float32), batch_size=batch_size, verbose=0)
    return np.asarray(hidden, dtype=np.float64) @ kernel + bias


def summarise(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Accuracy, bands and calibration of one set of probabilities."""
    rel = calibration.reliability(probabilities, labels)
    return {
        "accuracy": float((probabilities.argmax(axis=1) == labels).mean()),
        "ece": rel.ece,
        "negative_log_likelihood": float(
            -np.mean(np.log(np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, None)))
        ),
        "confidence_bands": calibration.confidence_bands(probabilities, labels),
        "reliability": {
            "bin_edges": rel.bin_edges,
            "counts": rel.counts,
            "mean_confidence": rel.mean_confidence,
            "accuracy": rel.accuracy,
        },
    }


def evaluate(model_path: Path, data: str, validation_size: int = 5000, seed: int = 0) -> dict[str, Any]:
    """Fit the temperature on the validation split and measure everything on the test split."""
    model = keras.models.load_model(model_path)
    dataset = load_dataset(data, validation_size=validation_size, seed=seed)
    val_logits = model_logits(model, dataset.validation.images)
    test_logits = model_logits(model, dataset.test.images)
    temperature = calibration.fit_temperature(val_logits, dataset.validation.labels)
    val_before = calibration.reliability(calibration.softmax(val_logits), dataset.validation.labels).ece
    val_after = calibration.reliability(calibration.softmax(val_logits, temperature), dataset.validation.labels).ece
    # Fold the temperature into the export only when it helps on data the test set never saw.
    apply = val_after < val_before
    before = summarise(calibration.softmax(test_logits), dataset.test.labels)
    after = summarise(calibration.softmax(test_logits, temperature), dataset.test.labels)
    predicted = test_logits.argmax(axis=1)
    matrix = calibration.confusion_matrix(predicted, dataset.test.labels, len(LABELS))
    per_class = {label: float(matrix[i, i] / matrix[i].sum()) for i, label in enumerate(LABELS)}
    return {
        "model": str(model_path),
        "data_source": dataset.source,
        "test_images": len(dataset.test),
        "test_accuracy": before["accuracy"],
        "per_class_accuracy": per_class,
        "confusion_matrix": matrix.tolist(),
        "labels": list(LABELS),
        "calibration": {
            "temperature": temperature,
            "temperature_applied": temperature if apply else 1.0,
            "fitted_on": f"validation split ({len(dataset.validation)} images carved from train, seed {seed})",
            "validation_ece_before": val_before,
            "validation_ece_after": val_after,
        },
        "uncalibrated": before,
        "calibrated": after,
    }


def plot(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """Confusion matrix and reliability diagram as PNG files."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(report["confusion_matrix"])
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(LABELS)), LABELS, rotation=45, ha="right")
    ax.set_yticks(range(len(LABELS)), LABELS)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(
            j,
            i,
            str(value),
            ha="center",
            va="center",
            fontsize=7,
            color="white" if value > matrix.max() / 2 else "black",
        )
    ax.set_title(f"Confusion matrix, test set (top-1 {report['test_accuracy']:.2%})")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    confusion_path = out_dir / "confusion_matrix.png"
    fig.savefig(confusion_path, dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 5.5))
    ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    for key, style in (("uncalibrated", "o-"), ("calibrated", "s-")):
        rel = report[key]["reliability"]
        points = [(c, a) for c, a, n in zip(rel["mean_confidence"], rel["accuracy"], rel["counts"], strict=True) if n]
        xs, ys = zip(*points, strict=True)
        name = "T = 1" if key == "uncalibrated" else f"T = {report['calibration']['temperature']:.3f}"
        ax.plot(xs, ys, style, markersize=4, label=f"{name} (ECE {report[key]['ece']:.4f})")
    ax.set_xlabel("mean confidence in bin")
    ax.set_ylabel("accuracy in bin")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title("Reliability diagram, test set (15 bins)")
    ax.legend(loc="upper left")
    fig.tight_layout()
    reliability_path = out_dir / "reliability.png"
    fig.savefig(reliability_path, dpi=110)
    plt.close(fig)
    return [confusion_path, reliability_path]


def markdown(report: dict[str, Any]) -> str:
    """A short human-readable summary of the report."""
    cal = report["calibration"]
    lines = [
        "# Evaluation of `best_model.keras`",
        "",
        f"Written by `python -m training.evaluate` on {report['test_images']:,} CIFAR-10 test images "
        f"({report['data_source']}).",
        "",
        f"**Test top-1 accuracy: {report['test_accuracy']:.2%}**",
        "",
        "| class | accuracy |",
        "|---|---|",
        *[f"| {label} | {acc:.1%} |" for label, acc in report["per_class_accuracy"].items()],
        "",
        "![confusion matrix](confusion_matrix.png)",
        "",
        "## Confidence bands (the seed's claim: high confidence is usually right)",
        "",
        "| band | uncalibrated: share | accuracy | calibrated: share | accuracy |",
        "|---|---|---|---|---|",
    ]
    names = {"high": "high (> 0.80)", "medium": "medium (0.50–0.80)", "low": "low (< 0.50)"}
    for band, name in names.items():
        b, a = report["uncalibrated"]["confidence_bands"][band], report["calibrated"]["confidence_bands"][band]
        lines.append(f"| {name} | {b['share']:.1%} | {b['accuracy']:.1%} | {a['share']:.1%} | {a['accuracy']:.1%} |")
    lines += [
        "",
        "## Calibration",
        "",
        f"Temperature fitted on the {cal['fitted_on']}: **T = {cal['temperature']:.4f}** "
        f"(validation ECE {cal['validation_ece_before']:.4f} → {cal['validation_ece_after']:.4f}).",
        "",
        "| | ECE (test, 15 bins) | NLL (test) |",
        "|---|---|---|",
        f"| before (T = 1) | {report['uncalibrated']['ece']:.4f} | "
        f"{report['uncalibrated']['negative_log_likelihood']:.4f} |",
        f"| after (T = {cal['temperature']:.3f}) | {report['calibrated']['ece']:.4f} | "
        f"{report['calibrated']['negative_log_likelihood']:.4f} |",
        "",
        (
            f"The export folds T = {cal['temperature_applied']:.4f} into the ONNX model's softmax, so the service's "
            "confidences are the calibrated ones. Temperature scaling never changes the top-1 class."
            if cal["temperature_applied"] != 1.0
            else "Temperature scaling did not help on the validation split, so the export keeps T = 1."
        ),
        "",
        "![reliability diagram](reliability.png)",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=Path("models/best_model.keras"))
    parser.add_argument("--data", default=default_source(), help="folder, .tar.gz archive, or 'keras'")
    parser.add_argument("--output-dir", type=Path, default=Path("models"))
    parser.add_argument("--validation-size", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    report = evaluate(args.model, args.data, args.validation_size, args.seed)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "evaluation.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, args.output_dir)
    (args.output_dir / "EVALUATION.md").write_text(markdown(report))
    cal = report["calibration"]
    print(
        f"test accuracy {report['test_accuracy']:.4f}; ECE {report['uncalibrated']['ece']:.4f} -> "
        f"{report['calibrated']['ece']:.4f} at T={cal['temperature']:.4f} (applied: {cal['temperature_applied']:.4f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
