"""CIFAR-10 class names in index order: folder names on disk and the public labels the model reports."""

from __future__ import annotations

from service import contract

# Folder names used by the JPEG archive and by `keras.datasets.cifar10`, index 0 … 9.
CLASS_FOLDERS: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

# The labels users see, in the same index order: the runtime's model contract owns them; the export bakes
# them into the model's metadata.
LABELS: tuple[str, ...] = contract.LABELS
