"""Static INT8 quantization of the exported model with onnxruntime's tools, and its timing.

Two graph formats: QDQ (QuantizeLinear/DequantizeLinear pairs around float operators, which onnxruntime fuses
into integer kernels when it can) and QOperator (QLinearConv, QGemm and friends written into the graph).
With uint8 activations and int8 weights (U8S8) the QOperator convolutions take onnxruntime's VNNI/AVX2 integer
kernels; S8S8 QOperator convolutions have no fast kernel on x86 and are 7x slower than FP32 (measured).
A third, Direct, writes the QOperator graph node by node (`export.int8_graph`) without the float detours
the generic tool leaves in.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime import quantization as q

from export.int8_graph import build_int8_graph
from service import contract


@dataclass(frozen=True)
class QuantRecipe:
    """One way to quantize: calibration method, data size, types, granularity, nodes kept in FP32."""

    name: str
    method: str = "MinMax"  # MinMax | Entropy | Percentile
    calibration_images: int = 512
    activation_type: str = "QInt8"  # QInt8 | QUInt8
    weight_type: str = "QInt8"
    per_channel: bool = True
    percentile: float = 99.999
    fp32_output_layer: bool = False  # keep the final Dense (logits) and what follows in FP32
    quant_format: str = "QDQ"  # QDQ | QOperator (onnxruntime's quantize_static) | Direct (export.int8_graph)
    fp32_stem: bool = False  # Direct only: the first convolution and its pool stay in float


# Candidates tried by the export; the first is onnxruntime's default-like S8S8 per-channel recipe.
CANDIDATES: tuple[QuantRecipe, ...] = (
    QuantRecipe("minmax-s8s8-per-channel-512"),
    QuantRecipe("qoperator-minmax-u8s8-per-channel-512", activation_type="QUInt8", quant_format="QOperator"),
    QuantRecipe(
        "qoperator-minmax-u8s8-per-channel-2048",
        calibration_images=2048,
        activation_type="QUInt8",
        quant_format="QOperator",
    ),
    QuantRecipe(
        "qoperator-minmax-u8s8-per-tensor-512", activation_type="QUInt8", per_channel=False, quant_format="QOperator"
    ),
    QuantRecipe("minmax-u8s8-per-channel-512", activation_type="QUInt8"),
    QuantRecipe("percentile-s8s8-per-channel-2048", method="Percentile", calibration_images=2048),
    QuantRecipe("entropy-u8s8-per-channel-1024", method="Entropy", calibration_images=1024, activation_type="QUInt8"),
    QuantRecipe("minmax-s8s8-per-channel-2048", calibration_images=2048),
    QuantRecipe("minmax-s8s8-per-channel-2048-fp32-head", calibration_images=2048, fp32_output_layer=True),
    QuantRecipe(
        "percentile-s8s8-per-channel-2048-fp32-head",
        method="Percentile",
        calibration_images=2048,
        fp32_output_layer=True,
    ),
    QuantRecipe(
        "direct-u8s8-per-channel-2048", calibration_images=2048, activation_type="QUInt8", quant_format="Direct"
    ),
    QuantRecipe(
        "direct-u8s8-per-channel-2048-fp32-stem",
        calibration_images=2048,
        activation_type="QUInt8",
        quant_format="Direct",
        fp32_stem=True,
    ),
)


class ImageReader(q.CalibrationDataReader):  # type: ignore[misc]
    """Feeds calibration images to the calibrator in small batches."""

    def __init__(self, images: np.ndarray, batch: int = 64) -> None:
        self._batches: Iterator[np.ndarray] = iter([images[i : i + batch] for i in range(0, len(images), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        return None if batch is None else {contract.INPUT_NAME: batch}


def _excluded_nodes(model_path: Path, fp32_output_layer: bool) -> list[str]:
    """Nodes kept in FP32: always the Softmax, and with `fp32_output_layer` the last MatMul/Gemm onwards.

    A quantized Softmax output is rounded to 1/255 steps, so the served probabilities would not
    sum to 1 (off by up to 0.016) and small probabilities would collapse to 0: the softmax of the
    dequantized logits costs nothing at this size and keeps the output a true distribution.
    The graph is topologically sorted, so "after" means later in the node list.
    """
    import onnx

    nodes = list(onnx.load(str(model_path)).graph.node)
    excluded = [node.name for node in nodes if node.op_type == "Softmax"]
    if fp32_output_layer:
        last = max(i for i, node in enumerate(nodes) if node.op_type in ("MatMul", "Gemm"))
        excluded += [node.name for node in nodes[last:] if node.name not in excluded]
    return excluded


def quantize(fp32_path: Path, output: Path, calibration: np.ndarray, recipe: QuantRecipe) -> Path:
    """Write an INT8 copy of `fp32_path` to `output`, calibrated on `calibration` (uint8 images)."""
    if len(calibration) < recipe.calibration_images:
        raise ValueError(f"recipe {recipe.name} needs {recipe.calibration_images} images, got {len(calibration)}")
    if recipe.quant_format == "Direct":
        if (recipe.method, recipe.activation_type, recipe.weight_type, recipe.per_channel) != (
            "MinMax", "QUInt8", "QInt8", True
        ):  # fmt: skip
            raise ValueError(f"recipe {recipe.name}: the Direct graph is min-max, u8 activations, s8 per-channel")
        return build_int8_graph(fp32_path, output, calibration[: recipe.calibration_images], fp32_stem=recipe.fp32_stem)
    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        q.quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        excluded = _excluded_nodes(prepared, recipe.fp32_output_layer)
        q.quantize_static(
            str(prepared),
            str(output),
            ImageReader(calibration[: recipe.calibration_images]),
            quant_format=getattr(q.QuantFormat, recipe.quant_format),
            per_channel=recipe.per_channel,
            activation_type=getattr(q.QuantType, recipe.activation_type),
            weight_type=getattr(q.QuantType, recipe.weight_type),
            calibrate_method=getattr(q.CalibrationMethod, recipe.method),
            nodes_to_exclude=excluded,
            extra_options={"CalibPercentile": recipe.percentile} if recipe.method == "Percentile" else {},
        )
    return output


def single_thread_session(path: Path) -> ort.InferenceSession:
    """A one-thread, no-spin session: how INT8 and FP32 are compared."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def median_latency_ms(
    paths: Sequence[Path], images: np.ndarray, batch: int, rounds: int = 7, calls: int = 50
) -> list[float]:
    """Median per-call latency for each model, interleaving the models round by round so noise hits all alike."""
    sessions = [single_thread_session(path) for path in paths]
    x = images[:batch]
    for session in sessions:
        for _ in range(10):
            session.run(None, {contract.INPUT_NAME: x})
    samples: list[list[float]] = [[] for _ in sessions]
    for _ in range(rounds):
        for index, session in enumerate(sessions):
            start = time.perf_counter()
            for _ in range(calls):
                session.run(None, {contract.INPUT_NAME: x})
            samples[index].append((time.perf_counter() - start) / calls * 1000)
    return [statistics.median(s) for s in samples]
