"""The attack builders make what they claim: the issue's files at its sizes, the worst admitted files just inside
the decode budget, a catalogue covering every cost class, and targets judged from the measured figures."""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from PIL import Image
from starlette.testclient import TestClient

from reliability.attacks import (
    admitted_side,
    bare_scan_jpeg,
    bmp_rle4,
    build_attacks,
    corrupt_avifs,
    ico_hiding,
    picture,
    progressive_jpeg,
    raw_png,
)
from reliability.cost import targets
from service.admission import JPEG_SCAN_MARKER, admit_image
from service.errors import ImageTooLargeError
from service.pipeline import decode_limits
from service.settings import Settings

LIMITS = decode_limits(Settings())


@pytest.mark.parametrize(
    ("build", "size", "most_bytes"),
    [
        (partial(bare_scan_jpeg, 6000, 900), (6000, 6000), 80_000),  # the issue: 64 KB
        (partial(picture, 6000, 6000, "WEBP", fill=0, lossless=True), (6000, 6000), 2_000),  # 1.4 KB
        (partial(raw_png, 5000, 5000, bit_depth=16), (5000, 5000), 50_000),  # 48 KB
        (partial(picture, 4000, 4000, "TIFF", "F", 0, compression="tiff_adobe_deflate"), (4000, 4000), 100_000),
        (partial(raw_png, 1, 39_000_000), (1, 39_000_000), 80_000),  # 76 KB
    ],
    ids=["jpeg-scans", "webp", "png-16bit", "tiff-float", "png-1-wide"],
)
def test_the_tiny_files_declare_huge_pictures(
    build: Callable[[], bytes], size: tuple[int, int], most_bytes: int
) -> None:
    data = build()
    assert len(data) <= most_bytes
    with Image.open(io.BytesIO(data)) as image:  # the header only
        assert image.size == size


def test_the_icon_hides_a_big_picture_behind_a_small_directory() -> None:
    data = ico_hiding(2000)
    assert data[6:8] == bytes([16, 16])  # the directory entry's width and height
    with pytest.warns(UserWarning, match="expected size"), Image.open(io.BytesIO(data)) as image:
        assert image.size == (2000, 2000)  # Pillow decodes the entry to open the file: no header-only look


def test_the_scan_attack_repeats_one_scan() -> None:
    assert bare_scan_jpeg(6000, 900).count(JPEG_SCAN_MARKER) == 900
    assert progressive_jpeg(256, 256, 32).count(JPEG_SCAN_MARKER) == LIMITS.max_jpeg_scans


@pytest.mark.parametrize(
    "make",
    [
        partial(progressive_jpeg, scans=LIMITS.max_jpeg_scans),
        partial(raw_png, bit_depth=16, colour_type=2, row_filter=4),
        bmp_rle4,
    ],
    ids=["jpeg", "png", "bmp"],
)
def test_the_worst_admitted_file_is_just_inside_the_budget(make: Callable[[int, int], bytes]) -> None:
    side = admitted_side(make, LIMITS)
    assert admit_image(make(side, side), LIMITS).cost.memory_bytes <= LIMITS.max_decode_bytes
    bigger = int(side * 1.05)
    with pytest.raises(ImageTooLargeError):
        admit_image(make(bigger, bigger), LIMITS)


def test_corrupt_avif_files_are_small_and_refused(limited_client: TestClient) -> None:
    for name, data in corrupt_avifs().items():
        assert len(data) < 400, name
        response = limited_client.post("/predict", content=data, headers={"Content-Type": "image/avif"})
        assert response.status_code == 400, (name, response.text)


def test_the_catalogue_covers_every_cost_class() -> None:
    attacks = build_attacks(Settings())
    assert len({attack.name for attack in attacks}) == len(attacks)
    classes = {"CPU", "memory", "event loop", "headers", "body", "connections"}
    assert {attack.cost_class for attack in attacks} == classes
    assert {attack.cost_class for attack in attacks if attack.quick} == classes - {"connections"}
    assert all(attack.expected == "200" for attack in attacks if attack.admitted)


def measured(name: str, **changes: Any) -> dict[str, Any]:
    figures = {"seconds": 0.1, "cpu_s": 0.1, "peak_rss_growth_mib": 10.0, "probes": 10, "probe_worst_ms": 5.0}
    return {"name": name, "client_paced": False, "answers": {"200": 1}, "probe_failures": {}, **figures, **changes}


def test_targets_name_the_attacks_that_missed_them() -> None:
    results = {
        "cases": [
            measured("fine"),
            measured("timed-out", answers={"504": 1}, seconds=10.0),
            measured("starved", probe_failures={"503": 3}, probe_worst_ms=150.0),
            measured("trickled", client_paced=True, seconds=12.0, peak_rss_growth_mib=80.0),
        ],
        "idle_rss_start_mib": 90.0,
        "idle_rss_end_mib": 130.0,
        "shutdown": {"unanswered": 0, "clean": True},
    }
    verdicts = {target["target"]: target["misses"] for target in targets(results)}
    assert list(verdicts.values()) == [
        ["timed-out (504)"],
        ["starved (150)", "starved (probe {'503': 3})"],
        ["trickled (80)"],
        ["+40.0 MiB"],
        ["timed-out (10)"],  # a client-paced attack lasts as long as its client wants
        [],
    ]
