"""Parity between the ONNX model (onnxruntime) and the Keras model it came from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from service import contract

MAX_ABS_DIFF = 1e-5
MIN_AGREEMENT = 1.0


class ParityError(RuntimeError):
    """The exported model does not reproduce the Keras model within tolerance."""


@dataclass(frozen=True)
class Parity:
    """How closely two sets of probabilities agree.

    An image whose two highest reference probabilities are within 2 × MAX_ABS_DIFF of each other is a
    tie: two correct float implementations may order it either way while staying within tolerance,
    so top-1 agreement is required on every other ("decided") image and ties are counted separately.
    """

    images: int
    top1_agreement: float
    max_abs_diff: float
    ties: int = 0
    decided_agreement: float = 1.0

    def check(self, max_abs_diff: float = MAX_ABS_DIFF, min_agreement: float = MIN_AGREEMENT) -> None:
        """Raise ParityError unless agreement and difference are within the limits."""
        problems = []
        if self.decided_agreement < min_agreement:
            problems.append(f"top-1 agreement {self.decided_agreement:.4%} < {min_agreement:.4%}")
        if not self.max_abs_diff <= max_abs_diff:
            problems.append(f"max |Δp| {self.max_abs_diff:.3g} > {max_abs_diff:.3g}")
        if problems:
            raise ParityError(f"ONNX/Keras parity failed on {self.images} images: " + "; ".join(problems))


def check_distribution(probabilities: np.ndarray, name: str, tolerance: float = MAX_ABS_DIFF) -> None:
    """Raise ParityError unless every row is a probability distribution (non-negative, sums to 1)."""
    worst = float(np.abs(probabilities.astype(np.float64).sum(axis=1) - 1.0).max()) if len(probabilities) else 0.0
    if worst > tolerance or (probabilities < 0).any():
        raise ParityError(f"{name} output is not a probability distribution: |sum - 1| up to {worst:.3g}")


def onnx_session(path: Path, threads: int = 0) -> ort.InferenceSession:
    """A CPU session on the model file; threads=0 lets onnxruntime choose."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_probabilities(session: ort.InferenceSession, images: np.ndarray, batch: int = 1000) -> np.ndarray:
    """Run uint8 images through the session in batches."""
    outputs = [
        session.run([contract.OUTPUT_NAME], {contract.INPUT_NAME: images[i : i + batch]})[0]
        for i in range(0, len(images), batch)
    ]
    return np.concatenate(outputs)


def compare(reference: np.ndarray, candidate: np.ndarray, tie_margin: float = 2 * MAX_ABS_DIFF) -> Parity:
    """Top-1 agreement (overall and on images that are not ties) and largest absolute probability difference."""
    if reference.shape != candidate.shape:
        raise ParityError(f"shape mismatch: {reference.shape} vs {candidate.shape}")
    agree = reference.argmax(axis=1) == candidate.argmax(axis=1)
    top2 = np.sort(reference, axis=1)[:, -2:]
    decided = (top2[:, 1] - top2[:, 0]) > tie_margin
    return Parity(
        images=len(reference),
        top1_agreement=float(agree.mean()),
        max_abs_diff=float(np.abs(reference.astype(np.float64) - candidate).max()),
        ties=int((~agree & ~decided).sum()),
        decided_agreement=float(agree[decided].mean()) if decided.any() else 1.0,
    )
