"""Expected failures as exceptions that carry their HTTP status and a machine-readable code."""

from __future__ import annotations

from collections.abc import Mapping


class ServiceError(Exception):
    """Base of every expected failure; rendered as ``{"error": message, "code": code}``."""

    status_code: int = 500
    code: str = "internal_error"

    def __init__(self, message: str, *, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = dict(headers or {})


class InvalidImageError(ServiceError):
    """The upload is not an image we can decode (corrupt, truncated, unknown format)."""

    status_code = 400
    code = "invalid_image"


class InvalidTensorError(ServiceError):
    """A V2 inference request has a malformed tensor (shape, datatype, data)."""

    status_code = 400
    code = "invalid_tensor"


class InvalidRequestError(ServiceError):
    """The request body is malformed (bad JSON, bad multipart, missing field)."""

    status_code = 400
    code = "invalid_request"


class PayloadTooLargeError(ServiceError):
    """The body, the image's pixel count or the number of images is over its limit."""

    status_code = 413
    code = "payload_too_large"


class ImageTooLargeError(PayloadTooLargeError):
    """The image header declares more pixels than allowed (a decompression bomb or a huge photo)."""

    code = "image_too_large"


class UnsupportedMediaTypeError(ServiceError):
    """The request's content type is not one this endpoint accepts."""

    status_code = 415
    code = "unsupported_media_type"


class InvalidParameterError(ServiceError):
    """A query or body parameter has a bad value."""

    status_code = 422
    code = "invalid_parameter"


class ModelNotFoundError(ServiceError):
    """A V2 request names a model or version this server does not serve."""

    status_code = 404
    code = "model_not_found"


class NotReadyError(ServiceError):
    """The model is not loaded and warmed up yet (or the server is shutting down)."""

    status_code = 503
    code = "not_ready"


class OverloadedError(ServiceError):
    """The inference queue is full; the client should retry later."""

    status_code = 503
    code = "overloaded"


class ShuttingDownError(ServiceError):
    """The server is draining and accepts no new inference work."""

    status_code = 503
    code = "shutting_down"


class DeadlineExceededError(ServiceError):
    """The request's work took longer than its deadline (CIFAR10_REQUEST_TIMEOUT_S)."""

    status_code = 504
    code = "timeout"


class InferenceFailedError(ServiceError):
    """The model raised while running a batch; every request in that batch gets this error."""

    status_code = 500
    code = "inference_failed"


class ModelLoadError(Exception):
    """The model file is missing, unreadable or does not honour the model contract."""
