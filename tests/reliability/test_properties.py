"""Property-based tests (Hypothesis) over the image preprocessing and the KServe V2 decoder: whatever the bytes,
the answer is a valid model input or a 4xx ServiceError, never anything else."""

from __future__ import annotations

import io
import json
import warnings
from typing import Any, Final

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from reliability.catalogue import jpeg_declaring, png_declaring
from service.contract import ModelInfo
from service.errors import ImageTooLargeError, ServiceError
from service.preprocessing import decode_image
from service.v2 import encode_infer_response, parse_infer_request

MAX_IMAGES: Final = 8
FORMATS: Final = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF", "PPM", "TGA", "ICO")
MAGIC_PREFIXES: Final = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff\xe0",
    b"GIF89a",
    b"RIFF\0\0\0\0WEBPVP8 ",
    b"BM",
    b"II*\0",
    b"MM\0*",
    b"P6\n",
    b"\0\0\1\0",
)
QUICK = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def decode_or_refuse(data: bytes, max_pixels: int = 1_000_000, resize: str = "squash") -> np.ndarray | None:
    """Decode; return None for a 4xx refusal and fail the test on anything else (production ignores warnings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            array = decode_image(data, max_pixels=max_pixels, resize=resize)  # type: ignore[arg-type]
        except ServiceError as exc:
            assert exc.status_code in (400, 413), exc
            assert exc.message
            return None
    assert array.shape == (32, 32, 3)
    assert array.dtype == np.uint8
    return array


def encode(image: Image.Image, image_format: str) -> bytes:
    """Encode, converting the mode where the format needs it."""
    if image_format in ("JPEG", "PPM") and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    if image_format in ("GIF", "ICO", "TGA", "BMP") and image.mode not in ("RGB", "RGBA", "L", "P", "1"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    try:
        image.save(buffer, image_format)
    except (OSError, KeyError, ValueError):  # this format cannot hold this mode (e.g. 32-bit or float as PNG)
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, image_format)
    return buffer.getvalue()


@st.composite
def images(draw: st.DrawFn, max_side: int = 96) -> Image.Image:
    """A random small image in one of the common modes."""
    width = draw(st.integers(1, max_side))
    height = draw(st.integers(1, max_side))
    mode = draw(st.sampled_from(["RGB", "RGBA", "L", "LA", "P", "1", "I;16", "I", "F", "CMYK"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    rgb = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16))
    if mode == "F":
        return Image.fromarray(rng.random((height, width), dtype=np.float32))
    return rgb.convert(mode)


@st.composite
def mutated_images(draw: st.DrawFn) -> bytes:
    """A valid encoded image with bytes flipped, a range deleted or the tail cut off."""
    image_format = draw(st.sampled_from(FORMATS))
    data = bytearray(encode(draw(images(max_side=40)), image_format))
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data) - 1))
        operation = draw(st.sampled_from(["flip", "delete", "truncate", "insert"]))
        if operation == "flip":
            data[position] = draw(st.integers(0, 255))
        elif operation == "delete":
            del data[position : position + draw(st.integers(1, 64))]
        elif operation == "truncate":
            del data[position:]
        else:
            data[position:position] = draw(st.binary(min_size=1, max_size=32))
        if not data:
            break
    return bytes(data)


# --- preprocessing --------------------------------------------------------------------------------------------


@QUICK
@given(st.binary(max_size=2048))
@example(b"")
@example(png_declaring(70_000, 70_000))
@example(jpeg_declaring(60_000, 60_000))
def test_arbitrary_bytes_decode_or_are_refused(data: bytes) -> None:
    decode_or_refuse(data)


@QUICK
@given(st.sampled_from(MAGIC_PREFIXES), st.binary(max_size=1024))
def test_bytes_behind_a_real_magic_number_decode_or_are_refused(magic: bytes, tail: bytes) -> None:
    decode_or_refuse(magic + tail)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_images())
def test_corrupted_real_images_decode_or_are_refused(data: bytes) -> None:
    decode_or_refuse(data)


@QUICK
@given(images(), st.sampled_from(FORMATS), st.sampled_from(["squash", "crop"]))
def test_every_valid_image_becomes_a_32x32_rgb_array(image: Image.Image, image_format: str, resize: str) -> None:
    data = encode(image, image_format)
    assert decode_or_refuse(data, resize=resize) is not None


@QUICK
@given(st.integers(1, 120), st.integers(1, 120), st.integers(32 * 32, 8000))
def test_pixel_limit_holds_exactly(width: int, height: int, max_pixels: int) -> None:
    data = encode(Image.new("RGB", (width, height), (9, 99, 199)), "PNG")
    if width * height > max_pixels:
        with pytest.raises(ImageTooLargeError):
            decode_image(data, max_pixels=max_pixels)
    else:
        assert decode_image(data, max_pixels=max_pixels).shape == (32, 32, 3)


@QUICK
@given(
    st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)), st.integers(1, 150), st.integers(1, 150)
)
def test_a_solid_colour_keeps_its_colour_at_any_size(colour: tuple[int, int, int], width: int, height: int) -> None:
    array = decode_or_refuse(encode(Image.new("RGB", (width, height), colour), "PNG"))
    assert array is not None
    assert np.abs(array.astype(int) - np.array(colour)).max() <= 1


# --- the V2 decoder ------------------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=30,
)
TENSOR_KEYS = st.sampled_from(["name", "datatype", "shape", "data", "parameters"])


def parse_or_refuse(body: bytes, header_length: str | None = None) -> Any:
    """Parse; return None for a 4xx refusal and fail on anything else; check a parsed request's images."""
    try:
        parsed = parse_infer_request(body, header_length, max_images=MAX_IMAGES)
    except ServiceError as exc:
        assert 400 <= exc.status_code < 500, exc
        assert exc.message
        return None
    assert parsed.images.dtype == np.uint8
    assert parsed.images.shape[1:] == (32, 32, 3)
    assert 1 <= parsed.images.shape[0] <= MAX_IMAGES
    return parsed


def v2_request(images: np.ndarray, layout: str) -> tuple[bytes, str | None]:
    """Encode images as a V2 request: flat JSON, nested JSON or binary tensor data."""
    tensor: dict[str, Any] = {"name": "image", "datatype": "UINT8", "shape": list(images.shape)}
    if layout == "binary":
        tensor["parameters"] = {"binary_data_size": images.nbytes}
        header = json.dumps({"inputs": [tensor]}).encode()
        return header + images.tobytes(), str(len(header))
    tensor["data"] = images.ravel().tolist() if layout == "flat" else images.tolist()
    return json.dumps({"inputs": [tensor]}).encode(), None


batches = st.integers(1, 3).flatmap(
    lambda n: st.integers(0, 2**32 - 1).map(
        lambda seed: np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    )
)


@QUICK
@given(JSON_VALUES)
def test_arbitrary_json_parses_or_is_refused(document: Any) -> None:
    parse_or_refuse(json.dumps(document).encode())


@QUICK
@given(JSON_VALUES, JSON_VALUES)
def test_arbitrary_inputs_and_outputs_parse_or_are_refused(inputs: Any, outputs: Any) -> None:
    parse_or_refuse(json.dumps({"inputs": inputs, "outputs": outputs, "parameters": outputs}).encode())


@QUICK
@given(batches, st.sampled_from(["flat", "nested", "binary"]))
def test_valid_requests_round_trip(images: np.ndarray, layout: str) -> None:
    body, header = v2_request(images, layout)
    parsed = parse_or_refuse(body, header)
    assert parsed is not None
    np.testing.assert_array_equal(parsed.images, images)


@QUICK
@given(TENSOR_KEYS, JSON_VALUES, st.sampled_from(["flat", "binary"]))
def test_a_tensor_with_one_field_replaced_parses_or_is_refused(key: str, value: Any, layout: str) -> None:
    images = np.full((1, 32, 32, 3), 7, dtype=np.uint8)
    body, header = v2_request(images, layout)
    json_end = int(header) if header is not None else len(body)
    request = json.loads(body[:json_end])
    request["inputs"][0][key] = value
    new_header = json.dumps(request).encode()
    if header is None:
        parsed = parse_or_refuse(new_header)
    else:
        parsed = parse_or_refuse(new_header + body[json_end:], str(len(new_header)))
    if parsed is not None:
        np.testing.assert_array_equal(parsed.images, images)


@QUICK
@given(st.binary(max_size=512), st.one_of(st.none(), st.integers(-5, 600).map(str), st.text(max_size=8)))
def test_arbitrary_bytes_and_header_lengths_parse_or_are_refused(body: bytes, header: str | None) -> None:
    parse_or_refuse(body, header)


@QUICK
@given(
    st.integers(1, 4).flatmap(lambda n: st.lists(st.floats(0, 1, width=32), min_size=10 * n, max_size=10 * n)),
    st.booleans(),
)
def test_responses_encode_to_valid_json_or_exact_binary(values: list[float], binary: bool) -> None:
    probabilities = np.array(values, dtype=np.float32).reshape(-1, 10)
    info = ModelInfo("cifar10-cnn", "v1", "0" * 64, "m.onnx", "fp32", tuple("abcdefghij"), {})
    request = parse_infer_request(
        v2_request(np.zeros((len(probabilities), 32, 32, 3), np.uint8), "flat")[0], None, max_images=MAX_IMAGES
    )
    request = type(request)(request.images, "id-1", binary)
    content, headers = encode_infer_response(probabilities, info, request)
    if binary:
        header_length = int(headers["inference-header-content-length"])
        document = json.loads(content[:header_length])
        decoded = np.frombuffer(content[header_length:], dtype="<f4").reshape(probabilities.shape)
    else:
        document = json.loads(content)
        decoded = np.array(document["outputs"][0]["data"], dtype=np.float32).reshape(probabilities.shape)
    assert document["id"] == "id-1"
    assert document["outputs"][0]["shape"] == list(probabilities.shape)
    np.testing.assert_array_equal(decoded, probabilities)
