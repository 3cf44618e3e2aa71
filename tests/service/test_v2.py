"""The KServe V2 codec (JSON and binary tensors) and its endpoints through the app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
from starlette.testclient import TestClient

from service import v2
from service.errors import InvalidRequestError, InvalidTensorError, PayloadTooLargeError
from service.v2 import HEADER_LENGTH, parse_infer_request
from tests.conftest import LABELS

INFER = "/v2/models/cifar10-cnn/infer"


def images(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)


def json_request(batch: np.ndarray, nested: bool = False, **extra: object) -> dict[str, object]:
    data = batch.tolist() if nested else batch.ravel().tolist()
    tensor = {"name": "image", "datatype": "UINT8", "shape": list(batch.shape), "data": data}
    return {"inputs": [tensor], **extra}


def binary_request(batch: np.ndarray, **extra: object) -> tuple[bytes, str]:
    tensor: dict[str, object] = {"name": "image", "datatype": "UINT8", "shape": list(batch.shape)}
    tensor["parameters"] = {"binary_data_size": batch.nbytes}
    header = json.dumps({"inputs": [tensor], **extra}).encode()
    return header + batch.tobytes(), str(len(header))


def reference(model_path: Path, batch: np.ndarray) -> np.ndarray:
    result: np.ndarray = ort.InferenceSession(str(model_path)).run(None, {"image": batch})[0]
    return result


@pytest.mark.parametrize("nested", [False, True])
def test_parse_json_tensor(nested: bool) -> None:
    batch = images(2)
    parsed = parse_infer_request(json.dumps(json_request(batch, nested, id="r1")).encode(), None, max_images=8)
    np.testing.assert_array_equal(parsed.images, batch)
    assert parsed.request_id == "r1"
    assert parsed.binary_output is False


def test_parse_binary_tensor() -> None:
    batch = images(3)
    body, length = binary_request(batch, parameters={"binary_data_output": True})
    parsed = parse_infer_request(body, length, max_images=8)
    np.testing.assert_array_equal(parsed.images, batch)
    assert parsed.binary_output is True


def test_requested_output_flag_wins_over_the_default() -> None:
    body = json_request(images(1), parameters={"binary_data_output": True})
    body["outputs"] = [{"name": "probabilities", "parameters": {"binary_data": False}}]
    assert parse_infer_request(json.dumps(body).encode(), None, max_images=8).binary_output is False


def _with_tensor(**changes: object) -> bytes:
    request = json_request(images(1))
    request["inputs"][0].update(changes)  # type: ignore[index]
    return json.dumps(request).encode()


@pytest.mark.parametrize(
    ("body", "header", "error", "fragment"),
    [
        (b"{not json", None, InvalidRequestError, "not valid JSON"),
        (b"[]", None, InvalidRequestError, "JSON object"),
        (b'{"inputs": []}', None, InvalidTensorError, "exactly one tensor"),
        (b'{"inputs": [{"name": "image"}], "id": 5}', None, InvalidRequestError, "'id' must be a string"),
        (_with_tensor(name="pixels"), None, InvalidTensorError, "unknown input"),
        (_with_tensor(datatype="FP32"), None, InvalidTensorError, "datatype UINT8"),
        (_with_tensor(shape=[1, 32, 32]), None, InvalidTensorError, "shape [N, 32, 32, 3]"),
        (_with_tensor(shape=[0, 32, 32, 3]), None, InvalidTensorError, "N >= 1"),
        (_with_tensor(shape=[1, 32, 32, True]), None, InvalidTensorError, "shape"),
        (_with_tensor(shape=[10**12, 32, 32, 3]), None, InvalidTensorError, "values, the shape needs"),
        (_with_tensor(data=[1, 2, 3]), None, InvalidTensorError, "has 3 values"),
        (_with_tensor(data=None), None, InvalidTensorError, "needs 'data'"),
        (_with_tensor(data=[0.5] * 3072), None, InvalidTensorError, "integers 0-255"),
        (_with_tensor(data=[256] * 3072), None, InvalidTensorError, "integers 0-255"),
        (_with_tensor(data=[-1] * 3072), None, InvalidTensorError, "integers 0-255"),
        (_with_tensor(data=["a"] * 3072), None, InvalidTensorError, "integers 0-255"),
        (_with_tensor(data=[[1, 2], [3]]), None, InvalidTensorError, "ragged"),
        (
            b'{"inputs": [{"name": "image", "datatype": "UINT8", "shape": [1,32,32,3], "data": [NaN]}]}',
            None,
            InvalidTensorError,
            "not a pixel value",
        ),
        (_with_tensor(parameters={"binary_data_size": 5}), "0", InvalidRequestError, "outside the body"),
        (_with_tensor(), "abc", InvalidRequestError, "must be an integer"),
        (_with_tensor(), "999999", InvalidRequestError, "outside the body"),
    ],
)
def test_bad_requests_are_400(body: bytes, header: str | None, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error, match=None) as caught:
        parse_infer_request(body, header, max_images=8)
    assert fragment in str(caught.value)
    assert caught.value.status_code == 400  # type: ignore[attr-defined]


def test_binary_size_must_match_shape_and_body() -> None:
    batch = images(1)
    body, length = binary_request(batch)
    with pytest.raises(InvalidTensorError, match="holds 3071 bytes"):
        parse_infer_request(body[:-1], length, max_images=8)
    header = json.dumps(
        {
            "inputs": [
                {"name": "image", "datatype": "UINT8", "shape": [1, 32, 32, 3], "parameters": {"binary_data_size": 3}}
            ]
        }
    ).encode()
    with pytest.raises(InvalidTensorError, match="must be 3072 bytes"):
        parse_infer_request(header + b"abc", str(len(header)), max_images=8)


def test_unknown_output_and_a_bad_class_count_are_refused() -> None:
    body = json_request(images(1), outputs=[{"name": "logits"}])
    with pytest.raises(InvalidTensorError, match="unknown output"):
        parse_infer_request(json.dumps(body).encode(), None, max_images=8)
    for bad in (-1, 2.5, "3", True):
        body = json_request(images(1), outputs=[{"name": "probabilities", "parameters": {"class_count": bad}}])
        with pytest.raises(InvalidRequestError, match="class_count"):
            parse_infer_request(json.dumps(body).encode(), None, max_images=8)


def test_class_count_answers_the_top_classes_as_strings(client: TestClient) -> None:
    body = json_request(images(2), outputs=[{"name": "probabilities", "parameters": {"class_count": 2}}])
    output = client.post(INFER, json=body).json()["outputs"][0]
    assert (output["datatype"], output["shape"]) == ("BYTES", [2, 2])
    value, index, label = output["data"][0].split(":")
    assert 0.0 <= float(value) <= 1.0 and label == LABELS[int(index)]


def test_huge_numbers_and_floods_of_values_are_refused_before_parsing() -> None:
    digits = b'{"inputs":[{"name":"image","datatype":"UINT8","shape":[1,32,32,3],"data":[' + b"9" * 5000 + b"]}]}"
    with pytest.raises(InvalidTensorError, match="5000 digits"):
        parse_infer_request(digits, None, max_images=8)
    flood = b'{"inputs":[{"name":"image","datatype":"UINT8","shape":[1,32,32,3],"data":[' + b"1," * 100_000 + b"1]}]}"
    with pytest.raises(PayloadTooLargeError, match="CIFAR10_MAX_BATCH_IMAGES"):
        parse_infer_request(flood, None, max_images=8)


def test_too_many_images_is_413() -> None:
    with pytest.raises(PayloadTooLargeError):
        parse_infer_request(json.dumps(json_request(images(3))).encode(), None, max_images=2)


def test_metadata_endpoints(client: TestClient) -> None:
    server = client.get("/v2").json()
    assert server["extensions"] == ["binary_tensor_data", "classification", "model_configuration", "statistics"]
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    metadata = client.get("/v2/models/cifar10-cnn").json()
    assert metadata["inputs"] == [{"name": "image", "datatype": "UINT8", "shape": [-1, 32, 32, 3]}]
    assert metadata["outputs"] == [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]}]
    version = metadata["versions"][0]
    assert client.get(f"/v2/models/cifar10-cnn/versions/{version}").json() == metadata
    assert client.get("/v2/models/cifar10-cnn/ready").json() == {"name": "cifar10-cnn", "ready": True}
    assert client.get(f"/v2/models/cifar10-cnn/versions/{version}/ready").status_code == 200


def test_unknown_model_or_version_is_404(client: TestClient) -> None:
    for path in ("/v2/models/resnet", "/v2/models/resnet/ready", "/v2/models/cifar10-cnn/versions/0/ready"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["code"] == "model_not_found"
    response = client.post("/v2/models/resnet/infer", json=json_request(images(1)))
    assert response.status_code == 404


def test_json_infer_matches_onnxruntime(client: TestClient, tiny_model_path: Path) -> None:
    batch = images(4)
    response = client.post(INFER, json=json_request(batch, id="abc-1"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["id"] == "abc-1"
    assert body["model_name"] == "cifar10-cnn"
    output = body["outputs"][0]
    assert (output["name"], output["datatype"], output["shape"]) == ("probabilities", "FP32", [4, 10])
    np.testing.assert_allclose(np.array(output["data"]).reshape(4, 10), reference(tiny_model_path, batch), rtol=1e-6)


def test_binary_infer_both_ways(client: TestClient, tiny_model_path: Path) -> None:
    batch = images(3, seed=5)
    body, length = binary_request(batch, parameters={"binary_data_output": True})
    response = client.post(INFER, content=body, headers={HEADER_LENGTH: length})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    header_length = int(response.headers[HEADER_LENGTH])
    header = json.loads(response.content[:header_length])
    assert "id" not in header
    output = header["outputs"][0]
    assert output["parameters"] == {"binary_data_size": 3 * 10 * 4}
    assert "data" not in output
    values = np.frombuffer(response.content[header_length:], dtype="<f4").reshape(output["shape"])
    np.testing.assert_allclose(values, reference(tiny_model_path, batch), rtol=1e-6)


def test_infer_errors_over_http(client: TestClient) -> None:
    response = client.post(INFER, content=b"{oops", headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    response = client.post(INFER, json=json_request(images(1))["inputs"])  # a list, not an object
    assert response.status_code == 400
    too_many = json_request(images(65))
    response = client.post(INFER, json=too_many)
    assert response.status_code == 413


RAGGED_OR_NOT = [
    [[255]] * 20_000,
    [7] * 20_000,
    [[[[1, 2, 3]] * 32] * 32] * 9,
    [[1], [2, 3]] + [[1]] * 20_000,
    [[1]] * 20_000 + [[1, 2]],
    [[1]] * 9_000 + [1] * 9_000,
    [1.5] * 10 + [1] * 20_000,
    [True] * 20_000,
    [],
    [[]] * 20_000,
    [["a"]] * 9_000,
]


@pytest.mark.parametrize("data", RAGGED_OR_NOT, ids=range(len(RAGGED_OR_NOT)))
def test_json_tensors_convert_in_slices_exactly_as_in_one_call(
    data: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        whole: np.ndarray | str = np.asarray(data)
    except ValueError:
        whole = "ValueError"
    sizes: list[int] = []
    one_call = np.asarray

    def recording(value: Any, *arguments: Any, **options: Any) -> np.ndarray:
        converted = one_call(value, *arguments, **options)
        sizes.append(converted.size)
        return converted

    monkeypatch.setattr(np, "asarray", recording)
    try:
        sliced: np.ndarray | str = v2._as_array(data)
    except ValueError:
        sliced = "ValueError"
    if isinstance(whole, str) or isinstance(sliced, str):
        assert whole == sliced
    else:
        assert sliced.dtype == whole.dtype and sliced.shape == whole.shape and np.array_equal(sliced, whole)
    if data and isinstance(data[0], list):  # lists of lists: no single call holds the GIL for more than a slice
        assert max(sizes, default=0) <= v2._JSON_SLICE_VALUES
