"""Request bodies for the HTTP benchmarks, written to files so the load generator can send them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from benchmarks.inputs import TestImage, decode_pixels, multipart_body, multipart_content_type, v2_infer_body

V2_INFER_PATH = "/v2/models/cifar10-cnn/infer"


@dataclass(frozen=True)
class Workload:
    """One kind of request: where it goes, its body on disk and its content type."""

    name: str
    path: str
    body_file: Path
    content_type: str
    description: str

    def body(self) -> bytes:
        """The request body."""
        return self.body_file.read_bytes()

    def headers(self) -> Mapping[str, str]:
        """Headers for a single request with this body."""
        return {"Content-Type": self.content_type}


def write_workloads(image: TestImage, directory: Path) -> dict[str, Workload]:
    """The three ways to ask for one prediction: multipart upload, raw JPEG body, KServe V2 JSON tensor."""
    directory.mkdir(parents=True, exist_ok=True)
    bodies = {
        "multipart": (multipart_body(image.jpeg), multipart_content_type(), "/predict", "POST /predict, multipart"),
        "raw": (image.jpeg, "image/jpeg", "/predict", "POST /predict, raw JPEG body"),
        "v2": (
            v2_infer_body(decode_pixels(image.jpeg)),
            "application/json",
            V2_INFER_PATH,
            "POST V2 infer, JSON uint8 tensor [1,32,32,3]",
        ),
    }
    workloads: dict[str, Workload] = {}
    for name, (body, content_type, path, description) in bodies.items():
        body_file = directory / f"{name}.body"
        body_file.write_bytes(body)
        workloads[name] = Workload(name, path, body_file, content_type, description)
    return workloads
