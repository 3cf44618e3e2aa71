"""Turn one row of model probabilities into the ``/predict`` answer: label, confidence band, rejection, top-k."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np

UNKNOWN: Final = "unknown"

Band = Literal["high", "medium", "low"]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Confidence band limits and the optional rejection threshold."""

    high: float = 0.80
    low: float = 0.50
    reject_below: float | None = None

    def band(self, confidence: float) -> Band:
        """``high`` above the high limit, ``low`` below the low limit, ``medium`` in between."""
        if confidence > self.high:
            return "high"
        if confidence >= self.low:
            return "medium"
        return "low"


def describe_prediction(
    probabilities: np.ndarray, labels: Sequence[str], thresholds: Thresholds, top_k: int | None = None
) -> dict[str, Any]:
    """Build the JSON object for one image from its probability row."""
    values: list[float] = probabilities.tolist()
    if not math.isnan(sum(values)):  # no NaN: the first maximum, as np.argmax picks it, for a fraction of its cost
        confidence = max(values)
        index = values.index(confidence)
    else:  # a NaN (a broken model): numpy's choice, the first NaN, whatever its position
        index = int(np.argmax(probabilities))
        confidence = values[index]
    label = labels[index]
    accepted = thresholds.reject_below is None or confidence >= thresholds.reject_below
    result: dict[str, Any] = {
        "label": label,
        "index": index,
        "confidence": confidence,
        "band": thresholds.band(confidence),
        "accepted": accepted,
        "prediction": label if accepted else UNKNOWN,
        "probabilities": dict(zip(labels, values, strict=True)),
    }
    if top_k is not None:
        order = np.argsort(-probabilities, kind="stable")[:top_k]
        result["top_k"] = [{"label": labels[i], "index": int(i), "probability": values[i]} for i in order.tolist()]
    return result
