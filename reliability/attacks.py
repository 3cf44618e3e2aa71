"""Attacks by cost class: files tiny on the wire but costly to decode, hold or parse, the costliest file of each
format the decode budget admits (sized by the service's own admission), and slow or vanishing clients."""

from __future__ import annotations

import contextlib
import json
import math
import select
import socket
import struct
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Final, Literal

import numpy as np
from PIL import Image

from benchmarks.inputs import MULTIPART_CONTENT_TYPE, encode, multipart
from benchmarks.processes import HOST
from reliability.catalogue import form, json_post, png_chunk, post, raw_png, sample_jpeg
from reliability.client import HttpAnswer, HttpRequest, parse_answer, receive, send, serialise
from service.admission import JPEG_SCAN_MARKER, DecodeLimits, estimate_cost, open_header
from service.contract import INPUT_SHAPE
from service.pipeline import decode_limits
from service.settings import Settings

_ROW_ALIGNMENT = 16  # sides are rounded down to this, so every format's block and row rules are met
_SAMPLE_SIDES = (1024, 1280)  # big enough for a JPEG to decode at 1/8 scale, as the budget-sized one does
HUFFMAN_TABLE_MARKER: Final = b"\xff\xc4"  # DHT
CostClass = Literal["CPU", "memory", "event loop", "headers", "body", "connections"]
Sender = Callable[[int], list[HttpAnswer]]  # sends the attack to a loopback port (its last argument)
TRICKLE_EVERY_S: Final = 1.0  # slow clients send a byte this often: far inside the header and body timeouts
HOLD_ATTEMPTS: Final = 5
LEFT: Final = "no_response"  # the client hung up before any answer


def progressive_jpeg(width: int, height: int, scans: int) -> bytes:
    """A flat progressive JPEG whose last scan repeats up to ``scans`` scans: each walks every DCT coefficient."""
    data = encode(Image.new("L", (width, height), 128), "JPEG", progressive=True, quality=90)
    # Entropy-coded data stuffs every 0xFF, so markers are found by searching (as the service counts scans).
    last_scan = data[data.rindex(HUFFMAN_TABLE_MARKER) : -2]
    return data[:-2] + last_scan * max(0, scans - data.count(JPEG_SCAN_MARKER)) + data[-2:]


def bare_scan_jpeg(side: int, scans: int) -> bytes:
    """The issue's attack: a ``side``-square progressive JPEG header, then ``scans`` copies of one cheap scan."""
    data = progressive_jpeg(side, side, 0)
    return data[: data.index(JPEG_SCAN_MARKER)] + data[data.rindex(HUFFMAN_TABLE_MARKER) : -2] * scans + data[-2:]


def png_with_text(chunks: int) -> bytes:
    """A 32x32 PNG preceded by ``chunks`` zTXt chunks, each inflating to 1 MiB (Pillow keeps up to 64 MiB)."""
    inflating = zlib.compress(b"\0" * ((1 << 20) - 1), 9)
    text = b"".join(png_chunk(b"zTXt", b"Comment%d\0\0" % index + inflating) for index in range(chunks))
    image = raw_png(32, 32, colour_type=2)
    return image[:33] + text + image[33:]  # after the signature and IHDR


def ico_hiding(inner_side: int) -> bytes:
    """An ICO whose directory says 16x16 while its one entry is an ``inner_side``-square RGBA PNG."""
    inner = raw_png(inner_side, inner_side, colour_type=6)
    directory = struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 16, 16, 0, 0, 1, 32, len(inner), 22)
    return directory + inner


def one_pixel_tiff(extra: Sequence[tuple[int, int, int, int]], data: bytes = bytes(1)) -> bytes:
    """A 1x1 greyscale TIFF whose first directory also holds the ``extra`` (tag, type, count, value) entries, with
    ``data`` after the directory (the pixel's strip starts there; see ``data_at``)."""
    at = data_at(len(extra))
    # width, height, bits, compression, photometric, strip offset, samples, rows per strip, strip bytes
    entries = [(256, 3, 1, 1), (257, 3, 1, 1), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1), (273, 4, 1, at)]
    entries += [(277, 3, 1, 1), (278, 3, 1, 1), (279, 4, 1, 1)]
    return b"II*\0" + struct.pack("<I", 8) + tiff_directory(sorted([*entries, *extra])) + data


def data_at(extra: int) -> int:
    """Where ``one_pixel_tiff``'s data starts, after a directory of its 9 own entries and ``extra`` more."""
    return 8 + 2 + 12 * (9 + extra) + 4


def tiff_tag_data(tags: int, data_bytes: int) -> bytes:
    """A 1x1 TIFF whose ``tags`` unknown tags share ``data_bytes``, which Pillow copies per tag to open it."""
    shared = [(40_000 + index, 1, data_bytes, data_at(tags)) for index in range(tags)]
    return one_pixel_tiff(shared, bytes(data_bytes))


def tiff_directory(entries: Sequence[tuple[int, int, int, int]]) -> bytes:
    """One classic little-endian TIFF directory: its count, its (tag, type, count, value) entries, no next one."""
    return struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", *entry) for entry in entries) + bytes(4)


def tiff_many_tags(tags: int) -> bytes:
    """A 1x1 TIFF whose first directory holds ``tags`` more tags, each parsed by Pillow's Python loop on open."""
    return one_pixel_tiff([(1_000 + index % 30_000, 3, 1, 7) for index in range(tags)])


def exif_block(tags: int, orientation: int = 6) -> bytes:
    """An EXIF block whose first, Exif, GPS and Interop directories hold ``tags`` entries each: Pillow parses all
    four, and writes them back, when it turns a sideways (``orientation``) image upright."""
    size = 2 + 12 * tags + 4
    exif_at, gps_at, interop_at = 8 + size, 8 + 2 * size, 8 + 3 * size
    filler = [[(1_000 * level + index, 3, 1, 7) for index in range(tags)] for level in range(1, 5)]
    first = sorted([(0x0112, 3, 1, orientation), (0x8769, 4, 1, exif_at), (0x8825, 4, 1, gps_at), *filler[0][3:]])
    exif = sorted([(0xA005, 4, 1, interop_at), *filler[1][1:]])
    directories = [first, exif, filler[2], filler[3]]
    return b"II*\0" + struct.pack("<I", 8) + b"".join(tiff_directory(entries) for entries in directories)


def png_with_exif(block: bytes) -> bytes:
    """A 32x32 PNG carrying ``block`` in an eXIf chunk."""
    image = raw_png(32, 32, colour_type=2)
    return image[:33] + png_chunk(b"eXIf", block) + image[33:]


def jpeg_with_segment(marker: int, payload: bytes, image: bytes | None = None) -> bytes:
    """``image`` (by default a 32x32 baseline JPEG) with one more header segment right after its start."""
    image = image or sample_jpeg()
    return image[:2] + bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload + image[2:]


def jpeg_with_exif(block: bytes) -> bytes:
    """A 32x32 JPEG carrying ``block`` in an APP1 Exif segment (at most 64 KiB, like every JPEG segment)."""
    return jpeg_with_segment(0xE1, b"Exif\0\0" + block)


def bmp_rle4(width: int, height: int) -> bytes:
    """A 4-bit run-length BMP of full-width runs: ~2 bytes per 255 pixels, each decoded by a Python loop in Pillow."""
    runs = (b"\xff\x11" * (width // 255) + (bytes([width % 255, 0x11]) if width % 255 else b"") + b"\0\0") * height
    palette = b"".join(bytes([value, value, value, 0]) for value in range(0, 256, 17))
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 4, 2, len(runs), 2835, 2835, 16, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(runs), 0, 0, offset) + info + palette + runs


def picture(
    width: int, height: int, image_format: str, mode: str = "RGB", fill: float | None = None, **options: object
) -> bytes:
    """``image_format`` of flat ``fill`` or (None) noise, the costliest to decode (GIF: 16 greys, to fit uploads)."""
    if fill is not None:
        return encode(Image.new(mode, (width, height), fill), image_format, **options)
    levels, bands = (16, 1) if image_format == "GIF" else (256, len(Image.new(mode, (1, 1)).getbands()))
    pixels = np.random.default_rng(0).integers(0, levels, (height, width, bands), dtype=np.uint8) * (256 // levels)
    return encode(Image.fromarray(pixels.squeeze(-1) if bands == 1 else pixels), image_format, **options)


def admitted_side(make: Callable[[int, int], bytes], limits: DecodeLimits) -> int:
    """The largest square side ``limits`` admit, from two samples (the decode cost is linear in the pixels)."""
    samples = (make(side, side) for side in _SAMPLE_SIDES)
    small, large = (estimate_cost(open_header(data), data).memory_bytes for data in samples)
    per_pixel = (large - small) / (_SAMPLE_SIDES[1] ** 2 - _SAMPLE_SIDES[0] ** 2)
    fixed = small - per_pixel * _SAMPLE_SIDES[0] ** 2
    pixels = min(limits.max_pixels, int((limits.max_decode_bytes - fixed) / per_pixel))
    side = math.isqrt(pixels)
    return side - side % _ROW_ALIGNMENT - _ROW_ALIGNMENT


def corrupt_avifs() -> dict[str, bytes]:
    """Small AVIF files cut short, their AV1 data garbled, or their size (``ispe``) or codec (``av1C``) rewritten."""
    avif = encode(Image.new("RGB", (32, 32), (200, 30, 30)), "AVIF", quality=50)
    mdat, ispe, av1c = (avif.index(box) for box in (b"mdat", b"ispe", b"av1C"))
    garbled = avif[: mdat + 8] + bytes(255 - byte for byte in avif[mdat + 8 :])
    huge = avif[: ispe + 8] + struct.pack(">II", 65_535, 65_535) + avif[ispe + 16 :]
    config = avif[: av1c + 4] + b"\xff" * 4 + avif[av1c + 8 :]
    return {"truncated": avif[: len(avif) // 2], "garbled": garbled, "huge-ispe": huge, "bad-av1c": config}


@dataclass(frozen=True, slots=True)
class Attack:
    """One attack: its cost class, the answer the service should give, and how to build and send it."""

    name: str
    cost_class: CostClass
    expected: str  # every answer's kind (``HttpAnswer.kind``): a status, or ``no_response`` for a client that left
    build: Callable[[], Sender]  # builds the payload (outside the measured window) and returns its sender
    admitted: bool = False  # within every limit: the service must serve it within the targets
    client_paced: bool = False  # lasts as long as the client makes it (trickles, disconnects)
    quick: bool = False  # part of the ``--quick`` subset


def one(request: Callable[[], HttpRequest]) -> Callable[[], Sender]:
    """The builder of a one-request attack."""

    def build() -> Sender:
        wire = serialise(request())
        return lambda port: [send(HOST, port, wire)]

    return build


def upload(make: Callable[[], bytes]) -> HttpRequest:
    """``POST /predict`` with the file ``make`` builds (the service finds the format from the bytes)."""
    return post("/predict", "application/octet-stream", make())


def batch(files: Sequence[bytes]) -> HttpRequest:
    """``POST /predict/batch`` with ``files`` as repeated ``files`` fields."""
    return form("/predict/batch", [("files", f"{index}.img", data) for index, data in enumerate(files)])


def v2_json(data: bytes, images: int) -> HttpRequest:
    """A V2 JSON infer request for ``images`` images whose ``data`` array holds ``data`` verbatim."""
    tensor = json.dumps({"name": "image", "datatype": "UINT8", "shape": [images, *INPUT_SHAPE]})
    return json_post(b'{"inputs":[' + tensor[:-1].encode() + b',"data":[' + data + b"]}]}")


def body_at_budget(settings: Settings) -> HttpRequest:
    """The largest batch there is: as many small JPEGs as a batch takes, padded to the batch byte limit."""
    jpeg, count = sample_jpeg(), settings.max_batch_images
    spare = settings.max_batch_upload_bytes - len(batch([jpeg] * count).body)
    pad = spare // count  # bytes after the end-of-image marker: decoders ignore them
    return batch([jpeg + b"\0" * (pad + (spare % count if index == 0 else 0)) for index in range(count)])


def head_only(path: str, content_length: int, content_type: str) -> bytes:
    """A request head promising a body of ``content_length`` bytes."""
    head = f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: {content_type}\r\nContent-Length: {content_length}"
    return head.encode() + b"\r\n\r\n"


def hang_up(wire: bytes, port: int, times: int = 1) -> list[HttpAnswer]:
    """Clients that send ``wire`` (a request, or part of one) and hang up before the answer: work for nobody."""
    answers = []
    for _ in range(times):
        started = time.perf_counter()
        with socket.create_connection((HOST, port)) as connection:
            connection.sendall(wire)
        answers.append(HttpAnswer("no_response", time.perf_counter() - started))
    return answers


def hold_budget(head: bytes, seconds: float, port: int) -> list[HttpAnswer]:
    """One slow body reserving the memory budget, trickled for ``seconds`` (again if another body was in the way)."""
    for _ in range(HOLD_ATTEMPTS):
        answers = trickle(1, head, b"\0", seconds, port)
        if answers[0].status != 503 or answers[0].seconds > TRICKLE_EVERY_S:
            break
    return answers


def trickle(connections: int, head: bytes, rest: bytes, give_up_s: float, port: int) -> list[HttpAnswer]:
    """``connections`` clients send ``head``, then ``rest`` a byte a second until answered (or ``give_up_s``)."""
    started = time.perf_counter()
    pending = {socket.create_connection((HOST, port)): bytearray() for _ in range(connections)}
    for connection in pending:
        connection.sendall(head)
    answers: list[HttpAnswer] = []
    sent = 0
    while pending and time.perf_counter() - started < give_up_s:
        for connection in list(pending):
            with contextlib.suppress(OSError):  # closed by the server: its answer (if any) is read below
                connection.send(rest[sent % len(rest) : sent % len(rest) + 1])
        sent += 1
        tick = time.perf_counter() + TRICKLE_EVERY_S
        while pending and (wait := tick - time.perf_counter()) > 0:
            for connection in select.select(list(pending), [], [], wait)[0]:
                data = receive(connection)
                pending[connection] += data
                answer = parse_answer(bytes(pending[connection]), time.perf_counter() - started)
                if not data or answer.outcome == "complete":
                    answers.append(answer)
                    pending.pop(connection).clear()
                    connection.close()
    for connection, received in pending.items():  # still open: the client gives up
        answers.append(parse_answer(bytes(received), time.perf_counter() - started))
        connection.close()
    return answers


def build_attacks(settings: Settings) -> list[Attack]:
    """Every attack, for a server running with ``settings`` (the defaults, in the reliability run)."""
    limits = decode_limits(settings)
    scans, images, tags = limits.max_jpeg_scans, settings.max_batch_images, limits.max_image_tags
    values = images * math.prod(INPUT_SHAPE)
    depth = (settings.max_upload_bytes - 200) // values // 2 - 1  # [[...[1]...]] per value: no commas to count
    # Reserves all but 1 KiB of the body budget (a body reserves twice its length): less than any upload needs.
    holding = min(settings.max_batch_upload_bytes, settings.max_body_memory_bytes // 2 - 512)
    part = multipart([("files", "slow.jpg", b"")]).split(b"\r\n\r\n")[0] + b"\r\n\r\n"  # a file part's head

    def budget(make: Callable[[int, int], bytes]) -> Callable[[], bytes]:  # the largest square the budget admits
        return lambda: make(*[admitted_side(make, limits)] * 2)

    worst = budget(partial(progressive_jpeg, scans=scans))  # the costliest JPEG the budget admits
    webp = partial(picture, image_format="WEBP", lossless=True)
    tiff = partial(picture, image_format="TIFF", mode="F", compression="tiff_adobe_deflate")
    avif = partial(picture, image_format="AVIF", speed=10, quality=30)
    paeth_48bit = partial(raw_png, bit_depth=16, colour_type=2, row_filter=4)
    files: list[tuple[str, CostClass, str, Callable[[], bytes], bool]] = [  # admitted when answered 200
        ("jpeg-6000px-900-scans", "CPU", "413", partial(bare_scan_jpeg, 6000, 900), True),
        ("webp-lossless-6000px", "CPU", "413", partial(webp, 6000, 6000, fill=0), True),
        ("png-16bit-grey-5000px", "memory", "413", partial(raw_png, 5000, 5000, bit_depth=16), True),
        ("tiff-float32-4000px", "memory", "413", partial(tiff, 4000, 4000, fill=0), False),
        ("png-1x39000000px", "memory", "413", partial(raw_png, 1, 39_000_000), False),
        ("png-39000000x1px", "memory", "413", partial(raw_png, 39_000_000, 1), False),
        ("ico-16px-hiding-6000px-png", "memory", "413", partial(ico_hiding, 6000), False),
        ("png-64-text-chunks-of-1mib", "memory", "400", partial(png_with_text, 64), False),
        ("tiff-40-tags-sharing-8mib", "memory", "413", partial(tiff_tag_data, 40, 8 << 20), False),
        ("tiff-65000-tags", "event loop", "413", partial(tiff_many_tags, 65_000), True),
        ("jpeg-exif-5400-tags", "event loop", "413", lambda: jpeg_with_exif(exif_block(1_350)), False),
        ("png-exif-4x16000-tags", "event loop", "413", lambda: png_with_exif(exif_block(16_000)), False),
        (f"png-exif-4x{tags}-tags-at-limit", "event loop", "200", lambda: png_with_exif(exif_block(tags)), False),
        (f"jpeg-progressive-{scans}-scans-at-budget", "CPU", "200", worst, True),
        ("png-48bit-paeth-at-budget", "CPU", "200", budget(paeth_48bit), True),
        ("png-16bit-grey-at-budget", "memory", "200", budget(partial(raw_png, bit_depth=16, row_filter=4)), False),
        ("webp-noise-at-budget", "CPU", "200", budget(partial(webp, method=0)), False),
        ("tiff-float32-at-budget", "memory", "200", budget(partial(tiff, fill=0.5)), False),
        ("gif-noise-at-budget", "CPU", "200", budget(partial(picture, image_format="GIF", mode="L")), False),
        ("bmp-rle4-at-budget", "CPU", "200", budget(bmp_rle4), False),
        ("avif-noise-at-budget", "CPU", "200", budget(avif), False),
    ]
    attacks = [
        Attack(name, kind, status, one(partial(upload, make)), admitted=status == "200", quick=quick)
        for name, kind, status, make, quick in files
    ]
    avif_upload = partial(post, "/predict", "image/avif")
    attacks += [
        Attack(f"avif-corrupt-{name}", "CPU", "400", one(partial(avif_upload, data)), quick=True)
        for name, data in corrupt_avifs().items()
    ]
    health = partial(HttpRequest, "GET", "/health")
    v2 = partial(v2_json, images=images)
    flat, nested = b",".join([b"255"] * values), b",".join([b"[" * depth + b"1" + b"]" * depth] * values)
    listed = b",".join([b"[255]"] * values)  # the most lists the bracket count admits: one per value
    slow_header = b"X-Slow: " + b"a" * settings.max_header_bytes  # never ends: no line break
    slow_heads = partial(trickle, 200, b"GET /health HTTP/1.1\r\n", slow_header, 2 * settings.header_timeout_s)
    slow_body = head_only("/predict/batch", holding, MULTIPART_CONTENT_TYPE) + part
    mid_body = head_only("/predict", 1 << 20, "image/jpeg") + b"\0" * 65536  # 64 KiB of the promised 1 MiB
    paced = partial(Attack, client_paced=True)
    return [
        *attacks,
        Attack("batch-of-8-jpeg-900-scans", "CPU", "200", one(lambda: batch([bare_scan_jpeg(6000, 900)] * 8))),
        Attack(
            f"batch-of-{images}-jpeg-at-budget", "CPU", "200", one(lambda: batch([worst()] * images)), admitted=True
        ),
        Attack("body-at-memory-budget", "memory", "200", one(lambda: body_at_budget(settings)), admitted=True),
        Attack("v2-one-5000-digit-integer", "event loop", "400", one(lambda: v2(b"9" * 5000, images=1)), quick=True),
        Attack("v2-json-largest-flat", "event loop", "200", one(lambda: v2(flat)), admitted=True, quick=True),
        Attack("v2-json-every-value-in-a-list", "event loop", "200", one(lambda: v2(listed)), admitted=True),
        Attack(f"v2-json-lists-{depth}-deep", "event loop", "413", one(lambda: v2(nested))),
        Attack("headers-1mib", "headers", "431", one(lambda: health({"X-Big": "a" * (1 << 20)})), quick=True),
        Attack("headers-64mib", "headers", "431", one(lambda: health({"X-Big": "a" * (64 << 20)}))),
        Attack(
            "headers-100000", "headers", "431", one(lambda: health({f"X-{n}": "1" for n in range(100_000)})), quick=True
        ),
        paced("slow-headers-200-connections", "connections", "408", lambda: slow_heads),
        paced("disconnect-mid-body-x20", "body", LEFT, lambda: partial(hang_up, mid_body, times=20), quick=True),
        paced("disconnect-after-body-at-budget", "body", LEFT, lambda: partial(hang_up, serialise(upload(worst)))),
        paced("slow-body-holding-memory-budget-3s", "body", LEFT, lambda: partial(hold_budget, slow_body, 3.0)),
    ]
