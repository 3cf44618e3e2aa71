"""Settings: parsing from an injected environment, validation messages, flag overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.settings import Settings, SettingsError, env_name

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_defaults_without_environment() -> None:
    settings = Settings.from_environ({})
    assert settings == Settings()
    assert (settings.host, settings.port, settings.workers, settings.model) == ("127.0.0.1", 8000, 1, "fp32")
    assert settings.batching is True
    assert settings.reject_below is None
    assert settings.cors_origins == ()
    # The project's models folder, not one relative to wherever the command is started.
    assert settings.model_path == PROJECT_ROOT / "models" / "cifar10_cnn.onnx"
    assert settings.model_path.is_file()


def test_every_variable_is_read_with_the_prefix() -> None:
    environ = {
        "CIFAR10_HOST": "0.0.0.0",
        "CIFAR10_PORT": "9001",
        "CIFAR10_WORKERS": "2",
        "CIFAR10_MODEL": "int8",
        "CIFAR10_MODELS_DIR": "/opt/models",
        "CIFAR10_INTRA_OP_THREADS": "2",
        "CIFAR10_INTER_OP_THREADS": "3",
        "CIFAR10_ALLOW_SPINNING": "yes",
        "CIFAR10_MEMORY_ARENA": "off",
        "CIFAR10_GRAPH_OPTIMIZATION": "BASIC",
        "CIFAR10_BATCHING": "false",
        "CIFAR10_MAX_BATCH_SIZE": "8",
        "CIFAR10_MAX_BATCH_WAIT_MS": "0.5",
        "CIFAR10_MAX_QUEUE": "10",
        "CIFAR10_MAX_UPLOAD_BYTES": "1000",
        "CIFAR10_MAX_IMAGE_PIXELS": "2000",
        "CIFAR10_MAX_BATCH_IMAGES": "4",
        "CIFAR10_HIGH_CONFIDENCE": "0.9",
        "CIFAR10_LOW_CONFIDENCE": "0.4",
        "CIFAR10_REJECT_BELOW": "0.3",
        "CIFAR10_RESIZE": "crop",
        "CIFAR10_LOG_LEVEL": "DEBUG",
        "CIFAR10_ACCESS_LOG": "0",
        "CIFAR10_CORS_ORIGINS": "http://a.example, http://b.example,",
        "CIFAR10_SHUTDOWN_TIMEOUT_S": "5",
        "UNRELATED": "ignored",
        "PORT": "1",
    }
    settings = Settings.from_environ(environ)
    assert settings.host == "0.0.0.0"
    assert settings.port == 9001
    assert settings.workers == 2
    assert settings.model_path == Path("/opt/models/cifar10_cnn.int8.onnx")
    assert (settings.intra_op_threads, settings.inter_op_threads) == (2, 3)
    assert settings.allow_spinning is True
    assert settings.memory_arena is False
    assert settings.graph_optimization == "basic"
    assert settings.batching is False
    assert (settings.max_batch_size, settings.max_batch_wait_ms, settings.max_queue) == (8, 0.5, 10)
    assert (settings.max_upload_bytes, settings.max_image_pixels, settings.max_batch_images) == (1000, 2000, 4)
    assert (settings.high_confidence, settings.low_confidence, settings.reject_below) == (0.9, 0.4, 0.3)
    assert settings.resize == "crop"
    assert settings.log_level == "debug"
    assert settings.access_log is False
    assert settings.cors_origins == ("http://a.example", "http://b.example")
    assert settings.shutdown_timeout_s == 5.0


def test_model_path_may_be_any_file() -> None:
    assert Settings.from_environ({"CIFAR10_MODEL": "/tmp/m.onnx"}).model_path == Path("/tmp/m.onnx")


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("CIFAR10_PORT", "eighty", "expected an integer"),
        ("CIFAR10_PORT", "70000", "between 0 and 65535"),
        ("CIFAR10_WORKERS", "0", "between 1"),
        ("CIFAR10_BATCHING", "maybe", "expected true or false"),
        ("CIFAR10_MAX_BATCH_WAIT_MS", "nan", "expected a number"),
        ("CIFAR10_MAX_BATCH_WAIT_MS", "-1", "between 0.0"),
        ("CIFAR10_MAX_BATCH_WAIT_MS", "soon", "expected a number or auto"),
        ("CIFAR10_HIGH_CONFIDENCE", "1.5", "between 0.0 and 1.0"),
        ("CIFAR10_REJECT_BELOW", "2", "between 0.0 and 1.0"),
        ("CIFAR10_RESIZE", "stretch", "one of squash, crop"),
        ("CIFAR10_LOG_LEVEL", "loud", "one of critical"),
        ("CIFAR10_GRAPH_OPTIMIZATION", "max", "one of disabled"),
        ("CIFAR10_MAX_IMAGE_PIXELS", "10", "between 1024"),
        ("CIFAR10_HOST", "", "must not be empty"),
    ],
)
def test_bad_values_name_the_variable_and_the_value(name: str, value: str, fragment: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_environ({name: value})
    message = str(caught.value)
    assert name in message
    assert fragment in message
    if value:
        assert value in message


def test_low_above_high_is_refused_naming_both() -> None:
    with pytest.raises(SettingsError, match=r"CIFAR10_LOW_CONFIDENCE.*CIFAR10_HIGH_CONFIDENCE"):
        Settings.from_environ({"CIFAR10_LOW_CONFIDENCE": "0.9", "CIFAR10_HIGH_CONFIDENCE": "0.8"})


def test_the_body_budget_holds_four_of_the_largest_bodies() -> None:
    with pytest.raises(SettingsError, match=r"CIFAR10_MAX_BODY_MEMORY_BYTES \(1000000\).*4 times.*\(16777216\)"):
        Settings.from_environ({"CIFAR10_MAX_BODY_MEMORY_BYTES": "1000000"})
    assert Settings.from_environ({"CIFAR10_MAX_BODY_MEMORY_BYTES": str(4 * 16 * 2**20)}).max_body_memory_bytes


def test_a_request_may_decode_at_least_one_image_at_the_budget() -> None:
    with pytest.raises(SettingsError, match=r"CIFAR10_MAX_REQUEST_DECODE_BYTES.*at least.*CIFAR10_MAX_DECODE_BYTES"):
        Settings.from_environ({"CIFAR10_MAX_DECODE_BYTES": str(80 * 2**20)})


def test_reject_below_can_be_switched_off_explicitly() -> None:
    assert Settings.from_environ({"CIFAR10_REJECT_BELOW": ""}).reject_below is None
    assert Settings.from_environ({"CIFAR10_REJECT_BELOW": "off"}).reject_below is None


def test_overrides_replace_only_given_values_and_are_validated() -> None:
    base = Settings.from_environ({"CIFAR10_PORT": "9000", "CIFAR10_HOST": "0.0.0.0"})
    changed = base.with_overrides(port=9100, host=None, model="int8")
    assert (changed.port, changed.host, changed.model) == (9100, "0.0.0.0", "int8")
    with pytest.raises(SettingsError, match="CIFAR10_PORT"):
        base.with_overrides(port=-1)


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(AttributeError):
        settings.port = 1  # type: ignore[misc]


def _as_variable(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(value)
    return "" if value is None else str(value)


def test_every_field_is_read_from_its_variable() -> None:
    import dataclasses

    defaults = Settings()
    environ = {
        env_name(field.name): _as_variable(getattr(defaults, field.name)) for field in dataclasses.fields(Settings)
    }
    assert len(environ) == len(dataclasses.fields(Settings)) > 25
    assert Settings.from_environ(environ) == defaults
    assert Settings.unknown_variables(environ) == []


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [("CIFAR10_MAX_BATCH_SZE", "CIFAR10_MAX_BATCH_SIZE"), ("CIFAR10_BATCHNG", "CIFAR10_BATCHING")],
)
def test_a_misspelt_variable_is_named_with_the_closest_real_one(typo: str, suggestion: str) -> None:
    environ = {typo: "8", "CIFAR10_PORT": "9000", "HOME": "/root"}
    assert Settings.from_environ(environ).port == 9000  # the typo changes nothing...
    (warning,) = Settings.unknown_variables(environ)  # ...but it is reported
    assert typo in warning and f"did you mean {suggestion}?" in warning


def test_real_variables_are_not_reported() -> None:
    assert Settings.unknown_variables({"CIFAR10_PORT": "1", "CIFAR10_MODELS_DIR": "/m", "PATH": "/bin"}) == []


def test_a_number_or_its_one_word_reads_as_itself() -> None:
    assert Settings.from_environ({"CIFAR10_MAX_BATCH_WAIT_MS": "AUTO"}).max_batch_wait_ms == "auto"
    assert Settings.from_environ({"CIFAR10_MAX_BATCH_WAIT_MS": "1.5"}).max_batch_wait_ms == 1.5
    with pytest.raises(SettingsError, match=r"between 0\.0"):
        Settings(max_batch_wait_ms="later")  # type: ignore[arg-type]  # not the one word: checked as a number
