"""Confidence analysis in plain numpy: confidence bands, expected calibration error, temperature scaling."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

HIGH_CONFIDENCE = 0.80
LOW_CONFIDENCE = 0.50


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of logits / temperature, computed in float64."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean cross-entropy of the tempered softmax."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(scaled).sum(axis=1))
    return float(np.mean(log_norm - scaled[np.arange(len(labels)), labels]))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, low: float = 0.05, high: float = 20.0) -> float:
    """Temperature minimising NLL, by golden-section search over log T (NLL is unimodal in T)."""
    a, b = math.log(low), math.log(high)
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    for _ in range(80):
        if negative_log_likelihood(logits, labels, math.exp(c)) < negative_log_likelihood(logits, labels, math.exp(d)):
            b = d
        else:
            a = c
        c, d = b - ratio * (b - a), a + ratio * (b - a)
    return math.exp((a + b) / 2)


@dataclass(frozen=True)
class Reliability:
    """Per-bin confidence and accuracy over equal-width confidence bins, and the resulting ECE."""

    bin_edges: list[float]
    counts: list[int]
    mean_confidence: list[float]
    accuracy: list[float]
    ece: float


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> Reliability:
    """Expected calibration error: sum over bins of |accuracy − confidence| weighted by the bin's share."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    # bin i holds (edges[i], edges[i+1]]; confidence is always > 0 for a softmax
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    counts, mean_conf, acc = [], [], []
    ece = 0.0
    for i in range(bins):
        member = index == i
        n = int(member.sum())
        counts.append(n)
        if n:
            mean_conf.append(float(confidence[member].mean()))
            acc.append(float(correct[member].mean()))
            ece += n / len(labels) * abs(acc[-1] - mean_conf[-1])
        else:
            mean_conf.append(0.0)
            acc.append(0.0)
    return Reliability([float(e) for e in edges], counts, mean_conf, acc, float(ece))


def confidence_bands(
    probabilities: np.ndarray, labels: np.ndarray, high: float = HIGH_CONFIDENCE, low: float = LOW_CONFIDENCE
) -> dict[str, dict[str, float | int]]:
    """Share of images and accuracy within each band: high (> high), medium [low, high], low (< low)."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    masks = {
        "high": confidence > high,
        "medium": (confidence >= low) & (confidence <= high),
        "low": confidence < low,
    }
    return {
        name: {
            "count": int(mask.sum()),
            "share": float(mask.mean()),
            "accuracy": float(correct[mask].mean()) if mask.any() else float("nan"),
        }
        for name, mask in masks.items()
    }


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray, classes: int) -> np.ndarray:
    """Counts[true, predicted]."""
    matrix = np.zeros((classes, classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix
