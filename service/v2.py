"""The Open Inference Protocol (KServe V2) REST codec: metadata documents, infer request parsing and response
encoding, with JSON tensors and the binary tensor data extension (``Inference-Header-Content-Length``)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import orjson

from service.contract import INPUT_DATATYPE, INPUT_NAME, INPUT_SHAPE, OUTPUT_DATATYPE, OUTPUT_NAME, ModelInfo
from service.errors import InvalidRequestError, InvalidTensorError, PayloadTooLargeError

HEADER_LENGTH: Final = "Inference-Header-Content-Length"
BINARY_CONTENT_TYPE: Final = "application/octet-stream"
SERVER_NAME: Final = "cifar10-serving"
EXTENSIONS: Final = ("binary_tensor_data", "classification", "model_configuration", "statistics")
PLATFORM: Final = "onnxruntime_onnx"
# Commas a request may hold besides its pixel values (keys, shapes, parameters, output lists).
_JSON_STRUCTURE_ALLOWANCE: Final = 4096
_MAX_NUMBER_LENGTH: Final = 32  # characters of one JSON number: far more than any value a tensor can hold
# numpy turns nested lists into an array in one call that holds the GIL: 64 images as 196,608 one-value lists
# held it ~50-100 ms, the event loop waiting all along while a decode thread parsed. Slices of this many values
# hold it about a millisecond each.
_JSON_SLICE_VALUES: Final = 8192


@dataclass(frozen=True, slots=True)
class InferRequest:
    """A parsed infer request: the images and how the client wants the answer."""

    images: np.ndarray  # uint8 (N, 32, 32, 3)
    request_id: str | None
    binary_output: bool
    class_count: int = 0  # classification extension: the top k classes as "value:index:label" strings


def server_metadata(version: str) -> dict[str, Any]:
    """``GET /v2``."""
    return {"name": SERVER_NAME, "version": version, "extensions": list(EXTENSIONS)}


def model_metadata(info: ModelInfo) -> dict[str, Any]:
    """``GET /v2/models/{name}``: the tensors' names, datatypes and shapes (-1 is the dynamic batch axis)."""
    return {"name": info.name, "versions": [info.version], "platform": PLATFORM, **info.tensors()}


def model_config(info: ModelInfo, *, max_batch_size: int, batching: bool, max_wait_ms: float) -> dict[str, Any]:
    """``GET /v2/models/{name}/config`` (model configuration extension), in Triton's model-config JSON.

    ``max_batch_size`` > 0 means the first dimension is the batch axis and ``dims`` leave it out.
    """
    config: dict[str, Any] = {
        "name": info.name,
        "platform": PLATFORM,
        "backend": "onnxruntime",
        "version_policy": {"latest": {"num_versions": 1}},
        "max_batch_size": max_batch_size,
        "input": [{"name": INPUT_NAME, "data_type": "TYPE_UINT8", "format": "FORMAT_NHWC", "dims": list(INPUT_SHAPE)}],
        "output": [{"name": OUTPUT_NAME, "data_type": "TYPE_FP32", "dims": [len(info.labels)]}],
        "instance_group": [{"name": info.name, "kind": "KIND_CPU", "count": 1}],
        "parameters": {"labels": {"string_value": json.dumps(list(info.labels))}},
    }
    if batching:
        config["dynamic_batching"] = {"max_queue_delay_microseconds": round(max_wait_ms * 1000)}
    return config


def repository_index(info: ModelInfo) -> list[dict[str, str]]:
    """``POST /v2/repository/index``: the one model this server serves, ready."""
    return [{"name": info.name, "version": info.version, "state": "READY", "reason": ""}]


def parse_infer_request(body: bytes, header_length: str | None, *, max_images: int) -> InferRequest:
    """Parse and validate an infer request body (JSON, or JSON header followed by binary tensor data).

    The JSON's cost is bounded before it is parsed: it may hold no more values, and no more lists and objects,
    than ``max_images`` images need (counted by its commas and opening brackets: each becomes a Python object),
    and numbers are parsed with bounded length (a 5,000-digit integer is refused, not converted).
    """
    json_end = _json_length(body, header_length)
    document = body[:json_end]
    # Values, plus at most a list per 3 values once nested as [N][32][32][3]: each costs a comma or a bracket.
    allowed_objects = 2 * max_images * math.prod(INPUT_SHAPE) + _JSON_STRUCTURE_ALLOWANCE
    if document.count(b",") + document.count(b"[") + document.count(b"{") > allowed_objects:
        raise PayloadTooLargeError(
            f"the JSON holds more values and lists than {max_images} images need (CIFAR10_MAX_BATCH_IMAGES)"
        )
    try:
        request = json.loads(document, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidRequestError(f"request body is not valid JSON: {exc}") from None
    except RecursionError:  # a few kB of '[' nest deeper than the JSON decoder's recursion limit
        raise InvalidRequestError("request body is not valid JSON: nested too deeply") from None
    if not isinstance(request, dict):
        raise InvalidRequestError("request body must be a JSON object")
    request_id = request.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidRequestError("'id' must be a string")
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise InvalidTensorError(f"'inputs' must be a list holding exactly one tensor named {INPUT_NAME!r}")
    images = _parse_input(inputs[0], body, json_end, max_images=max_images)
    binary_output, class_count = _output_options(request)
    return InferRequest(images, request_id, binary_output, class_count)


def encode_infer_response(
    probabilities: np.ndarray, info: ModelInfo, request: InferRequest
) -> tuple[bytes, dict[str, str]]:
    """Encode the response body and its headers (binary tensor data when the client asked for it)."""
    response: dict[str, Any] = {"model_name": info.name, "model_version": info.version}
    if request.request_id is not None:
        response["id"] = request.request_id
    if request.class_count:
        return _encode_classes(probabilities, info.labels, request, response)
    output: dict[str, Any] = {"name": OUTPUT_NAME, "datatype": OUTPUT_DATATYPE, "shape": list(probabilities.shape)}
    response["outputs"] = [output]
    if not request.binary_output:
        output["data"] = probabilities.ravel().tolist()
        return _dumps(response), {"content-type": "application/json"}
    raw = np.ascontiguousarray(probabilities, dtype="<f4").tobytes()
    output["parameters"] = {"binary_data_size": len(raw)}
    header = _dumps(response)
    return header + raw, {"content-type": BINARY_CONTENT_TYPE, HEADER_LENGTH.lower(): str(len(header))}


def _parse_int(text: str) -> int:
    if len(text) > _MAX_NUMBER_LENGTH:
        raise InvalidTensorError(f"a number of {len(text)} digits is not a pixel value")
    return int(text)


def _parse_float(text: str) -> float:
    if len(text) > _MAX_NUMBER_LENGTH:
        raise InvalidTensorError(f"a number of {len(text)} characters is not a pixel value")
    return float(text)


def _refuse_constant(text: str) -> float:
    raise InvalidTensorError(f"{text} is not a pixel value")


def _encode_classes(
    probabilities: np.ndarray, labels: tuple[str, ...], request: InferRequest, response: dict[str, Any]
) -> tuple[bytes, dict[str, str]]:
    """The classification extension: per image, the ``class_count`` best classes as ``value:index:label`` BYTES."""
    count = min(request.class_count, probabilities.shape[1])
    order = np.argsort(-probabilities, axis=1, kind="stable")[:, :count]
    classes = [
        f"{probabilities[row, index]:.6f}:{index}:{labels[index]}" for row in range(len(order)) for index in order[row]
    ]
    output: dict[str, Any] = {"name": OUTPUT_NAME, "datatype": "BYTES", "shape": [len(order), count]}
    response["outputs"] = [output]
    if not request.binary_output:
        output["data"] = classes
        return _dumps(response), {"content-type": "application/json"}
    # BYTES in the binary extension: each element is a 4-byte little-endian length, then its bytes.
    raw = b"".join(len(item).to_bytes(4, "little") + item for item in (text.encode() for text in classes))
    output["parameters"] = {"binary_data_size": len(raw)}
    header = _dumps(response)
    return header + raw, {"content-type": BINARY_CONTENT_TYPE, HEADER_LENGTH.lower(): str(len(header))}


def _dumps(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document)


def _json_length(body: bytes, header_length: str | None) -> int:
    if header_length is None:
        return len(body)
    try:
        length = int(header_length)
    except ValueError:
        raise InvalidRequestError(f"{HEADER_LENGTH} must be an integer, got {header_length!r}") from None
    if not 0 < length <= len(body):
        raise InvalidRequestError(f"{HEADER_LENGTH} {length} is outside the body of {len(body)} bytes")
    return length


def _parse_input(tensor: dict[str, Any], body: bytes, json_end: int, *, max_images: int) -> np.ndarray:
    if tensor.get("name") != INPUT_NAME:
        raise InvalidTensorError(f"unknown input {tensor.get('name')!r}; the model's input is {INPUT_NAME!r}")
    if tensor.get("datatype") != INPUT_DATATYPE:
        raise InvalidTensorError(
            f"input {INPUT_NAME!r} must have datatype {INPUT_DATATYPE}, got {tensor.get('datatype')!r}"
        )
    shape = tensor.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) != 4
        or not all(isinstance(dim, int) and not isinstance(dim, bool) for dim in shape)
        or tuple(shape[1:]) != INPUT_SHAPE
        or shape[0] < 1
    ):
        raise InvalidTensorError(f"input {INPUT_NAME!r} must have shape [N, 32, 32, 3] with N >= 1, got {shape!r}")
    count = shape[0]
    expected = math.prod(shape)
    parameters = tensor.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidTensorError("input 'parameters' must be an object")
    binary_size = parameters.get("binary_data_size")
    if binary_size is not None:
        images = _binary_tensor(binary_size, expected, body, json_end)
    else:
        if json_end != len(body):
            raise InvalidRequestError("body has bytes after the JSON header but the input has no binary_data_size")
        images = _json_tensor(tensor.get("data"), expected)
    if count > max_images:
        raise PayloadTooLargeError(f"{count} images in one request is over the limit of {max_images}")
    return images.reshape(count, *INPUT_SHAPE)


def _binary_tensor(binary_size: Any, expected: int, body: bytes, json_end: int) -> np.ndarray:
    if not isinstance(binary_size, int) or isinstance(binary_size, bool) or binary_size != expected:
        raise InvalidTensorError(
            f"binary_data_size must be {expected} bytes for the declared shape, got {binary_size!r}"
        )
    available = len(body) - json_end
    if available != binary_size:
        raise InvalidTensorError(
            f"binary_data_size is {binary_size} but the body holds {available} bytes of tensor data"
        )
    return np.frombuffer(body, dtype=np.uint8, count=expected, offset=json_end)


def _json_tensor(data: Any, expected: int) -> np.ndarray:
    if not isinstance(data, list):
        raise InvalidTensorError(f"input {INPUT_NAME!r} needs 'data' (a list) or binary data")
    # Cheap size check before numpy touches a possibly huge or deeply nested list.
    if data and not isinstance(data[0], list) and len(data) != expected:
        raise InvalidTensorError(f"input {INPUT_NAME!r} has {len(data)} values, the shape needs {expected}")
    try:
        values = _as_array(data)
    except (ValueError, TypeError, RecursionError):
        raise InvalidTensorError(f"input {INPUT_NAME!r} data is ragged or not numeric") from None
    if values.size != expected:
        raise InvalidTensorError(f"input {INPUT_NAME!r} has {values.size} values, the shape needs {expected}")
    if values.dtype.kind not in "iu":
        raise InvalidTensorError(f"input {INPUT_NAME!r} data must be integers 0-255 (UINT8)")
    if values.size and (int(values.min()) < 0 or int(values.max()) > 255):
        raise InvalidTensorError(f"input {INPUT_NAME!r} data must be integers 0-255 (UINT8)")
    return values.astype(np.uint8, copy=False).ravel()


def _as_array(data: list[Any]) -> np.ndarray:
    """``np.asarray(data)``; a list of lists a slice of the outer list at a time (see ``_JSON_SLICE_VALUES``).

    A flat list converts fast enough in one call. A slice whose shape differs from the others is ragged data:
    ``np.concatenate`` refuses it with the ValueError that ``np.asarray`` raises for the whole list."""
    if not data or not isinstance(data[0], list):
        return np.asarray(data)
    step = max(1, _JSON_SLICE_VALUES // max(_values_in(data[0]), 1))
    if step >= len(data):
        return np.asarray(data)
    return np.concatenate([np.asarray(data[start : start + step]) for start in range(0, len(data), step)])


def _values_in(item: Any) -> int:
    """How many values a nested list holds, if it is regular: the product of its first elements' lengths."""
    count = 1
    while isinstance(item, list) and item:
        count *= len(item)
        item = item[0]
    return count


def _output_options(request: dict[str, Any]) -> tuple[bool, int]:
    """Whether the client wants binary output, and how many classes it asked for (0: the probabilities)."""
    parameters = request.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InvalidRequestError("'parameters' must be an object")
    binary = _flag(parameters.get("binary_data_output", False), "binary_data_output")
    class_count = 0
    outputs = request.get("outputs")
    if outputs is None:
        return binary, class_count
    if not isinstance(outputs, list):
        raise InvalidRequestError("'outputs' must be a list")
    for output in outputs:
        if not isinstance(output, dict) or output.get("name") != OUTPUT_NAME:
            name = output.get("name") if isinstance(output, dict) else output
            raise InvalidTensorError(f"unknown output {name!r}; the model's output is {OUTPUT_NAME!r}")
        output_parameters = output.get("parameters") or {}
        if not isinstance(output_parameters, dict):
            raise InvalidRequestError("output 'parameters' must be an object")
        # tritonclient sends "classification"; the KServe documents call it class_count.
        requested = output_parameters.get("classification", output_parameters.get("class_count", 0))
        if not isinstance(requested, int) or isinstance(requested, bool) or requested < 0:
            raise InvalidRequestError(f"class_count must be a whole number of classes, got {requested!r}")
        class_count = requested
        binary = _flag(output_parameters.get("binary_data", binary), "binary_data")
    return binary, class_count


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidRequestError(f"parameter {name!r} must be true or false, got {value!r}")
    return value
