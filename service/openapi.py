"""The OpenAPI 3.1 document for ``GET /openapi.json``, written by hand to match the responses exactly."""

from __future__ import annotations

from typing import Any

_JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    descriptions = {
        400: "Undecodable or corrupt image, malformed body or bad tensor",
        404: "Unknown model or version",
        413: "Body, image pixel count or number of images over the limit",
        415: "Unsupported content type",
        422: "Bad parameter",
        500: "Model inference failed",
        503: "Model not ready, server overloaded or shutting down",
    }
    return {str(status): _json(_ref("Error"), descriptions[status]) for status in statuses}


_TOP_K = {
    "name": "top_k",
    "in": "query",
    "required": False,
    "description": "Also return the k most probable classes, best first.",
    "schema": {"type": "integer", "minimum": 1, "maximum": 10},
}
_MODEL_NAME = {"name": "model_name", "in": "path", "required": True, "schema": {"type": "string"}}
_MODEL_VERSION = {"name": "model_version", "in": "path", "required": True, "schema": {"type": "string"}}

_PROBABILITY = {"type": "number", "minimum": 0, "maximum": 1}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "code"],
        "properties": {
            "error": {"type": "string", "description": "What went wrong, for people."},
            "code": {"type": "string", "description": "What went wrong, for programs."},
        },
    },
    "TopClass": {
        "type": "object",
        "required": ["label", "index", "probability"],
        "properties": {"label": {"type": "string"}, "index": {"type": "integer"}, "probability": _PROBABILITY},
    },
    "Prediction": {
        "type": "object",
        "required": ["label", "index", "confidence", "band", "accepted", "prediction", "probabilities"],
        "properties": {
            "label": {"type": "string", "description": "The most probable class."},
            "index": {"type": "integer", "minimum": 0},
            "confidence": _PROBABILITY,
            "band": {"type": "string", "enum": ["high", "medium", "low"]},
            "accepted": {"type": "boolean", "description": "False when confidence is below CIFAR10_REJECT_BELOW."},
            "prediction": {"type": "string", "description": "The label, or 'unknown' when not accepted."},
            "probabilities": {"type": "object", "additionalProperties": _PROBABILITY},
            "top_k": {"type": "array", "items": _ref("TopClass")},
            "filename": {"type": ["string", "null"], "description": "Only in /predict/batch results."},
        },
    },
    "BatchItemError": {
        "type": "object",
        "required": ["error", "code", "status", "filename"],
        "properties": {
            "error": {"type": "string"},
            "code": {"type": "string"},
            "status": {"type": "integer", "minimum": 400, "maximum": 499},
            "filename": {"type": ["string", "null"]},
        },
    },
    "BatchResponse": {
        "type": "object",
        "required": ["results"],
        "properties": {"results": {"type": "array", "items": {"anyOf": [_ref("Prediction"), _ref("BatchItemError")]}}},
    },
    "Status": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}},
    "ModelInfo": {
        "type": "object",
        "required": [
            "name",
            "version",
            "sha256",
            "precision",
            "labels",
            "input",
            "output",
            "onnxruntime_version",
            "threads",
            "batching",
        ],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "sha256": {"type": "string"},
            "file": {"type": "string", "description": "the model file's name (not its path)"},
            "precision": {"type": "string"},
            "labels": {"type": "array", "items": {"type": "string"}},
            "input": {"type": "object"},
            "output": {"type": "object"},
            "input_contract": {"type": "string"},
            "preprocessing": {"type": "string"},
            "resize": {"type": "string", "enum": ["squash", "crop"]},
            "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
            "onnxruntime_version": {"type": "string"},
            "threads": {
                "type": "object",
                "required": ["intra_op", "inter_op"],
                "properties": {"intra_op": {"type": "integer"}, "inter_op": {"type": "integer"}},
            },
            "session": {"type": "object"},
            "batching": {
                "type": "object",
                "required": ["enabled", "max_batch_size", "max_batch_wait_ms", "max_queue"],
                "properties": {
                    "enabled": {"type": "boolean"},
                    "max_batch_size": {"type": "integer"},
                    "max_batch_wait_ms": {"type": "number"},
                    "max_queue": {"type": "integer"},
                },
            },
            "thresholds": {"type": "object"},
            "limits": {"type": "object"},
        },
    },
    "V2ServerMetadata": {
        "type": "object",
        "required": ["name", "version", "extensions"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "extensions": {"type": "array", "items": {"type": "string"}},
        },
    },
    "V2TensorMetadata": {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {
            "name": {"type": "string"},
            "datatype": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer"}},
        },
    },
    "V2ModelMetadata": {
        "type": "object",
        "required": ["name", "versions", "platform", "inputs", "outputs"],
        "properties": {
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": _ref("V2TensorMetadata")},
            "outputs": {"type": "array", "items": _ref("V2TensorMetadata")},
        },
    },
    "V2Live": {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}},
    "V2Ready": {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}},
    "V2InferInput": {
        "type": "object",
        "required": ["name", "datatype", "shape", "data"],
        "properties": {
            "name": {"type": "string", "enum": ["image"]},
            "datatype": {"type": "string", "enum": ["UINT8"]},
            "shape": {
                "type": "array",
                "prefixItems": [
                    {"type": "integer", "minimum": 1},
                    {"const": 32},
                    {"const": 32},
                    {"const": 3},
                ],
                "minItems": 4,
                "maxItems": 4,
                "description": "[N, 32, 32, 3]; the data must hold N x 3072 values.",
            },
            "parameters": {
                "type": "object",
                "properties": {"binary_data_size": {"type": "integer", "minimum": 0}},
            },
            "data": {
                "type": "array",
                "items": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 255}, {"type": "array"}]},
                "description": "Row-major values 0-255, flat or nested; omitted when sent as binary data.",
            },
        },
    },
    "V2RequestedOutput": {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "enum": ["probabilities"]},
            "parameters": {"type": "object", "properties": {"binary_data": {"type": "boolean"}}},
        },
    },
    "V2InferRequest": {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "parameters": {"type": "object", "properties": {"binary_data_output": {"type": "boolean"}}},
            "inputs": {"type": "array", "items": _ref("V2InferInput"), "minItems": 1, "maxItems": 1},
            "outputs": {"type": "array", "items": _ref("V2RequestedOutput")},
        },
    },
    "V2InferOutput": {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {
            "name": {"type": "string"},
            "datatype": {"type": "string", "enum": ["FP32"]},
            "shape": {"type": "array", "items": {"type": "integer"}},
            "data": {"type": "array", "items": {"type": "number"}},
            "parameters": {"type": "object", "properties": {"binary_data_size": {"type": "integer"}}},
        },
    },
    "V2InferResponse": {
        "type": "object",
        "required": ["model_name", "model_version", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "outputs": {"type": "array", "items": _ref("V2InferOutput")},
        },
    },
}

_IMAGE_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
            },
        },
        "image/*": {"schema": {"type": "string", "format": "binary"}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    },
}

_BATCH_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["files"],
                "properties": {
                    "files": {"type": "array", "items": {"type": "string", "format": "binary"}, "minItems": 1}
                },
            },
        },
    },
}


def _v2_model_paths(prefix: str, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        prefix: {
            "get": {
                "summary": "V2 model metadata",
                "operationId": "v2ModelMetadata" + ("Version" if len(parameters) > 1 else ""),
                "parameters": parameters,
                "responses": {"200": _json(_ref("V2ModelMetadata"), "Model metadata"), **_errors(404, 503)},
            }
        },
        prefix + "/ready": {
            "get": {
                "summary": "V2 model readiness",
                "operationId": "v2ModelReady" + ("Version" if len(parameters) > 1 else ""),
                "parameters": parameters,
                "responses": {"200": _json(_ref("V2Ready"), "Model ready"), **_errors(404, 503)},
            }
        },
        prefix + "/infer": {
            "post": {
                "summary": "V2 inference (JSON tensors, or the binary tensor data extension)",
                "operationId": "v2Infer" + ("Version" if len(parameters) > 1 else ""),
                "description": (
                    "Binary tensor data extension: send the JSON header followed by the raw tensor bytes, with "
                    "header Inference-Header-Content-Length giving the JSON length and the input's "
                    "parameters.binary_data_size the byte count; binary outputs come back the same way."
                ),
                "parameters": parameters,
                "requestBody": {"required": True, "content": {_JSON: {"schema": _ref("V2InferRequest")}}},
                "responses": {
                    "200": {
                        "description": "Probabilities, as JSON or as a JSON header followed by binary FP32 data",
                        "content": {
                            _JSON: {"schema": _ref("V2InferResponse")},
                            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                        },
                    },
                    **_errors(400, 404, 413, 500, 503),
                },
            }
        },
    }


def build_openapi(version: str) -> dict[str, Any]:
    """The whole OpenAPI document."""
    text = {"description": "Text", "content": {"text/plain": {"schema": {"type": "string"}}}}
    paths: dict[str, Any] = {
        "/": {
            "get": {
                "summary": "A page for trying the model by hand",
                "operationId": "page",
                "responses": {"200": {"description": "HTML", "content": {"text/html": {"schema": {"type": "string"}}}}},
            }
        },
        "/predict": {
            "post": {
                "summary": "Classify one image",
                "operationId": "predict",
                "parameters": [_TOP_K],
                "requestBody": _IMAGE_BODY,
                "responses": {
                    "200": _json(_ref("Prediction"), "The prediction"),
                    **_errors(400, 413, 415, 422, 500, 503),
                },
            }
        },
        "/predict/batch": {
            "post": {
                "summary": "Classify several images; each bad image gets its own error entry",
                "operationId": "predictBatch",
                "parameters": [_TOP_K],
                "requestBody": _BATCH_BODY,
                "responses": {
                    "200": _json(_ref("BatchResponse"), "One result per file, in request order"),
                    **_errors(400, 413, 415, 422, 500, 503),
                },
            }
        },
        "/health": {
            "get": {
                "summary": "Liveness",
                "operationId": "health",
                "responses": {"200": _json(_ref("Status"), "Alive")},
            }
        },
        "/ready": {
            "get": {
                "summary": "Readiness: the model is loaded and warmed up",
                "operationId": "ready",
                "responses": {"200": _json(_ref("Status"), "Ready"), **_errors(503)},
            }
        },
        "/metrics": {"get": {"summary": "Prometheus metrics", "operationId": "metrics", "responses": {"200": text}}},
        "/model": {
            "get": {
                "summary": "The served model",
                "operationId": "model",
                "responses": {"200": _json(_ref("ModelInfo"), "Model information"), **_errors(503)},
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "operationId": "openapi",
                "responses": {"200": _json({"type": "object"}, "OpenAPI document")},
            }
        },
        "/v2": {
            "get": {
                "summary": "V2 server metadata",
                "operationId": "v2ServerMetadata",
                "responses": {"200": _json(_ref("V2ServerMetadata"), "Server metadata")},
            }
        },
        "/v2/health/live": {
            "get": {
                "summary": "V2 liveness",
                "operationId": "v2Live",
                "responses": {"200": _json(_ref("V2Live"), "Alive")},
            }
        },
        "/v2/health/ready": {
            "get": {
                "summary": "V2 readiness",
                "operationId": "v2Ready",
                "responses": {"200": _json(_ref("V2Ready"), "Ready"), **_errors(503)},
            }
        },
        **_v2_model_paths("/v2/models/{model_name}", [_MODEL_NAME]),
        **_v2_model_paths("/v2/models/{model_name}/versions/{model_version}", [_MODEL_NAME, _MODEL_VERSION]),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CIFAR-10 inference service",
            "version": version,
            "description": "Classify images into the 10 CIFAR-10 classes; also speaks the KServe V2 protocol.",
        },
        "paths": paths,
        "components": {"schemas": _SCHEMAS},
    }
