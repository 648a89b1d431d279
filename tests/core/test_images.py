"""core.images keeps the memory of a photo upload bounded: a tiny PNG that decodes to 237 MB is refused from its
header, a large JPEG is decoded at reduced scale, and a normal phone photo still comes out max_side sized.

Pillow allocates pixels in C, out of tracemalloc's sight: the memory tests decode in a fresh Python process and read
its peak resident size (VmHWM) from /proc. ru_maxrss is no use here: Linux carries the parent's peak over exec.
"""

import io
import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image

from core.images import ImageError, reencode_photo

ROOT = Path(__file__).resolve().parents[2]
#: What activities.media passes with the default config (PHOTO_MAX_SIDE, PHOTO_MAX_BYTES).
PHOTO = {"max_side": 2048, "max_bytes": 1024 * 1024, "max_pixels": 60_000_000}
MB = 1024 * 1024

#: Decodes argv[2] `argv[3]` times at once (threads) with the reencode_photo keywords in argv[4], prints peak memory.
CHILD = r"""
import io, json, sys, threading
sys.path.insert(0, sys.argv[1])
from PIL import Image
from core.images import ImageError, reencode_photo

def status_mb(key):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) // 1024 for line in fh if line.startswith(key + ":"))

with open(sys.argv[2], "rb") as fh:
    data = fh.read()
results = []

def upload():
    try:
        results.append(list(Image.open(io.BytesIO(reencode_photo(io.BytesIO(data), **json.loads(sys.argv[4])))).size))
    except ImageError as exc:
        results.append(exc.reason)

with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # the peak so far (imports, reading the file) becomes the current size
start = status_mb("VmRSS")
threads = [threading.Thread(target=upload) for _ in range(int(sys.argv[3]))]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(json.dumps({"start_mb": start, "peak_mb": status_mb("VmHWM"), "results": results}))
"""

pytestmark = pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")


def _decode_in_child(path: Path, *, uploads: int = 1, **kwargs) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(path), str(uploads), json.dumps(PHOTO | kwargs)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _blank_png(width: int, height: int) -> bytes:
    """A transparent RGBA PNG written row by row: 7700x7700 takes ~230 KB on disk and never 237 MB in this process."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    packer = zlib.compressobj(9)
    row = bytes(1 + width * 4)  # filter byte + RGBA pixels
    pixels = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8 bits, RGBA
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _photo(size: tuple[int, int], fmt: str = "JPEG", mode: str = "RGB") -> bytes:
    # Smooth noise scaled up: compresses like a photo, and decodes slowly enough to notice a full-size decode.
    bands = [Image.effect_noise((size[0] // 10, size[1] // 10), 60).resize(size) for _ in mode]
    out = io.BytesIO()
    Image.merge(mode, bands).save(out, fmt, quality=90)
    return out.getvalue()


@pytest.fixture(scope="module")
def bomb_png(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("images") / "bomb.png"
    path.write_bytes(_blank_png(7700, 7700))
    return path


def test_tiny_png_of_7700x7700_rgba_is_refused_from_its_header_without_decoding(bomb_png):
    assert bomb_png.stat().st_size < 300 * 1024  # 59 MP: under the pixel budget, yet 237 MB once decoded

    child = _decode_in_child(bomb_png)

    assert child["results"] == ["too many pixels"]
    assert child["peak_mb"] - child["start_mb"] < 32, child


def test_four_such_pngs_at_once_keep_a_worker_under_300_mb(bomb_png):
    child = _decode_in_child(bomb_png, uploads=4)

    assert child["results"] == ["too many pixels"] * 4
    assert child["peak_mb"] < 300, child


def test_large_jpeg_is_decoded_at_reduced_scale_and_still_fills_max_side(tmp_path):
    path = tmp_path / "big.jpg"
    path.write_bytes(_photo((6000, 4000)))

    child = _decode_in_child(path)

    # Full size would be 96 MB of pixels (Pillow keeps RGB in 4 bytes); drafted at 1/2 it is 24 MB.
    assert child["results"] == [[2048, 1365]]
    assert child["peak_mb"] - child["start_mb"] < 80, child


def test_phone_photo_of_12_mp_comes_out_max_side_sized():
    out = Image.open(io.BytesIO(reencode_photo(io.BytesIO(_photo((4000, 3000))), **PHOTO)))

    assert (out.format, out.size) == ("JPEG", (2048, 1536))


def test_rgba_png_under_the_pixel_budget_is_refused_when_its_decoded_bytes_are_over():
    rgba = io.BytesIO(_blank_png(1000, 1000))  # 1 MP, 8 MB to decode and scale (premultiplied copy)
    rgb = io.BytesIO(_photo((1000, 1000), "PNG"))  # 1 MP, 4 MB

    with pytest.raises(ImageError, match="too many pixels"):
        reencode_photo(rgba, **PHOTO, max_decode_bytes=6 * MB)
    assert Image.open(io.BytesIO(reencode_photo(rgb, **PHOTO, max_decode_bytes=6 * MB))).size == (1000, 1000)


@pytest.mark.parametrize("mode", ["RGBA", "P"])
def test_transparent_png_is_scaled_and_flattened_on_white(mode):
    image = Image.new("RGBA", (3000, 1000), (0, 0, 0, 0))
    image.paste((200, 0, 0, 255), (0, 0, 1500, 1000))
    if mode == "P":
        image = image.convert("P")  # the transparent colour becomes the palette's "transparency" entry
    out = io.BytesIO()
    image.save(out, "PNG")

    photo = Image.open(io.BytesIO(reencode_photo(io.BytesIO(out.getvalue()), **PHOTO)))

    assert photo.size == (2048, 683)
    assert _near(photo.getpixel((500, 300)), (200, 0, 0)) and _near(photo.getpixel((1500, 300)), (255, 255, 255))


def _near(pixel, colour, tolerance=8):
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour))
