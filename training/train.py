"""Train the seed CNN on CIFAR-10, keep the best epoch by validation accuracy, report test accuracy once."""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from training.data import Dataset, Split, default_source, load_dataset
from training.labels import LABELS
from training.model import build_model


@dataclass(frozen=True)
class Recipe:
    """Every choice that affects the trained weights; recorded next to the checkpoint."""

    epochs: int = 80
    batch_size: int = 128
    learning_rate: float = 2e-3
    warmup_epochs: int = 2
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    augment: bool = True
    shift_pixels: int = 4
    validation_size: int = 5000
    seed: int = 0


def augment_image(image: tf.Tensor, shift_pixels: int) -> tf.Tensor:
    """Random horizontal flip and a random crop of a reflect-padded image (a shift of ±shift_pixels)."""
    image = tf.image.random_flip_left_right(image)
    if shift_pixels:
        padded = tf.pad(image, [[shift_pixels, shift_pixels], [shift_pixels, shift_pixels], [0, 0]], mode="REFLECT")
        image = tf.image.random_crop(padded, tf.shape(image))
    return image


def make_pipeline(split: Split, recipe: Recipe, training: bool) -> tf.data.Dataset:
    """A tf.data pipeline of (float32 pixels 0–255, one-hot labels), augmented when training."""
    one_hot = np.eye(len(LABELS), dtype=np.float32)[split.labels]
    data = tf.data.Dataset.from_tensor_slices((split.images, one_hot))
    if training:
        data = data.shuffle(len(split), seed=recipe.seed, reshuffle_each_iteration=True)
        if recipe.augment:
            data = data.map(
                lambda x, y: (augment_image(x, recipe.shift_pixels), y),
                num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True,
            )
    data = data.map(lambda x, y: (tf.cast(x, tf.float32), y))
    return data.batch(recipe.batch_size).prefetch(tf.data.AUTOTUNE)


def compile_model(model: keras.Model, recipe: Recipe, steps_per_epoch: int) -> None:
    """AdamW with linear warm-up then cosine decay to zero; label-smoothed cross-entropy."""
    warmup_steps = recipe.warmup_epochs * steps_per_epoch
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup_steps else recipe.learning_rate,
        decay_steps=max(1, recipe.epochs * steps_per_epoch - warmup_steps),
        warmup_target=recipe.learning_rate if warmup_steps else None,
        warmup_steps=warmup_steps,
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=recipe.weight_decay),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing),
        metrics=["accuracy"],
    )


def train(dataset: Dataset, recipe: Recipe, output: Path, verbose: str | int = "auto") -> dict[str, object]:
    """Train, checkpoint the best validation epoch to `output`, and return a report of the run."""
    keras.utils.set_random_seed(recipe.seed)
    tf.config.experimental.enable_op_determinism()
    model = build_model()
    train_data = make_pipeline(dataset.train, recipe, training=True)
    validation_data = make_pipeline(dataset.validation, recipe, training=False)
    compile_model(model, recipe, steps_per_epoch=int(np.ceil(len(dataset.train) / recipe.batch_size)))
    output.parent.mkdir(parents=True, exist_ok=True)
    checkpoint = keras.callbacks.ModelCheckpoint(
        output, monitor="val_accuracy", mode="max", save_best_only=True, verbose=0
    )
    started = time.perf_counter()
    history = model.fit(
        train_data, validation_data=validation_data, epochs=recipe.epochs, callbacks=[checkpoint], verbose=verbose
    )
    elapsed = time.perf_counter() - started
    best = keras.models.load_model(output)
    _, test_accuracy = best.evaluate(make_pipeline(dataset.test, recipe, training=False), verbose=0)
    val_accuracy = history.history["val_accuracy"]
    best_epoch = int(np.argmax(val_accuracy))
    return {
        "recipe": asdict(recipe),
        "data_source": dataset.source,
        "sizes": {"train": len(dataset.train), "validation": len(dataset.validation), "test": len(dataset.test)},
        "best_epoch": best_epoch + 1,
        "best_validation_accuracy": float(val_accuracy[best_epoch]),
        "test_accuracy": float(test_accuracy),
        "training_seconds": round(elapsed, 1),
        "history": {key: [round(float(v), 5) for v in values] for key, values in history.history.items()},
        "command": " ".join(["python -m training.train", *sys.argv[1:]]),
        "versions": {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__},
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "cpus": len(__import__("os").sched_getaffinity(0)),
        },
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = Recipe()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=default_source(), help="folder, .tar.gz archive, or 'keras'")
    parser.add_argument("--output", type=Path, default=Path("models/best_model.keras"))
    parser.add_argument("--report", type=Path, default=Path("models/training.json"))
    parser.add_argument("--epochs", type=int, default=defaults.epochs)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--warmup-epochs", type=int, default=defaults.warmup_epochs)
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--label-smoothing", type=float, default=defaults.label_smoothing)
    parser.add_argument("--no-augment", dest="augment", action="store_false")
    parser.add_argument("--shift-pixels", type=int, default=defaults.shift_pixels)
    parser.add_argument("--validation-size", type=int, default=defaults.validation_size)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads (0 = all cores)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    recipe = Recipe(
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        warmup_epochs=args.warmup_epochs,
        weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing,
        augment=args.augment,
        shift_pixels=args.shift_pixels,
        validation_size=args.validation_size,
        seed=args.seed,
    )
    dataset = load_dataset(args.data, validation_size=recipe.validation_size, seed=recipe.seed)
    report = train(dataset, recipe, args.output)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"best epoch {report['best_epoch']}: validation accuracy {report['best_validation_accuracy']:.4f}; "
        f"test accuracy {report['test_accuracy']:.4f} -> {args.output}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
