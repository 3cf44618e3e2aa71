"""The service runs on onnxruntime alone: no TensorFlow, Keras, tf2onnx or onnx after start-up and requests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.service.conftest import COMMITTED_FP32

PROJECT_ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import io, json, sys
import numpy as np
from PIL import Image
from starlette.testclient import TestClient
import service.__main__, service.offline
from service.app import create_app
from service.settings import Settings

buffer = io.BytesIO()
Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, "JPEG")
with TestClient(create_app(Settings(model=sys.argv[1], access_log=False))) as client:
    assert client.post("/predict", content=buffer.getvalue(), headers={"content-type": "image/jpeg"}).status_code == 200
    body = {"inputs": [{"name": "image", "datatype": "UINT8", "shape": [1, 32, 32, 3], "data": [0] * 3072}]}
    assert client.post("/v2/models/cifar10-cnn/infer", json=body).status_code == 200
    assert client.get("/model").status_code == 200
forbidden = ("tensorflow", "keras", "tf2onnx", "onnx", "tf_keras", "export", "training")
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules} & set(forbidden))))
"""


def test_no_tensorflow_side_module_is_imported(tiny_model_path: Path) -> None:
    model = COMMITTED_FP32 if COMMITTED_FP32.exists() else tiny_model_path
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(model)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


LAYERS = {
    # module: packages it must not pull in (the dependency rules of the README's architecture section)
    "service.runtime": ("starlette", "uvicorn"),
    "service.admission": ("starlette", "uvicorn", "onnxruntime"),
    "service.preprocessing": ("starlette", "uvicorn", "onnxruntime"),
    "service.batching": ("starlette", "uvicorn", "onnxruntime"),
    "service.v2": ("starlette", "uvicorn", "onnxruntime"),
    "service.contract": ("starlette", "uvicorn", "onnxruntime", "numpy", "PIL"),
}


def test_each_layer_imports_only_what_it_needs() -> None:
    for module, forbidden in LAYERS.items():
        script = f"import json, sys, {module}; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
        result = subprocess.run(
            [sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60, check=True
        )
        loaded = set(json.loads(result.stdout))
        assert not loaded & set(forbidden), f"{module} pulls in {sorted(loaded & set(forbidden))}"
