"""Photos re-encoded with Pillow on plain values: orientation applied, metadata stripped, size and bytes capped.

The stored copy is a fresh baseline JPEG: no EXIF (so no GPS, camera or time), no XMP, no comments and no ICC
profile (a wide-gamut photo is converted to sRGB first, so its colours survive without the profile).
"""

from __future__ import annotations

import io
import os
import warnings
from typing import BinaryIO

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

#: What phones and browsers hand over; anything else is not a photo to us (iOS turns HEIC into JPEG on upload).
FORMATS = ("JPEG", "PNG", "WEBP", "GIF")  # a JPEG plugin also reads multi-picture (MPO) photos
#: JPEG qualities tried in turn until the photo fits its byte cap; after the last one the photo is scaled down.
QUALITIES = (85, 75, 65, 55)
#: How JPEG, PNG and GIF files start: a photo cut off in its first bytes still counts as a (broken) photo.
MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")
SHRINK = 0.8
MIN_SIDE = 320
#: Most memory a photo may take while it is decoded and scaled down (see `_working_bytes`): a few uploads at once
#: must fit a web worker. A PNG of 230 KB can hold 7700x7700 RGBA pixels, 237 MB once decoded.
MAX_DECODE_BYTES = 100 * 1024 * 1024


class ImageError(Exception):
    """A file that is not a usable photo; `reason` is one of "not an image", "corrupt", "too many pixels"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def is_image(path: str | os.PathLike) -> bool:
    """True when the file at `path` starts like one of FORMATS, even if it turns out broken (only the start is read)."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    if head.startswith(MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path, formats=FORMATS):
                return True
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return False


def reencode_photo(fileobj: BinaryIO, *, max_side: int, max_bytes: int, max_pixels: int,
                   max_decode_bytes: int = MAX_DECODE_BYTES) -> bytes:
    """Decode a photo, apply its EXIF orientation, fit it in `max_side` px and return JPEG bytes <= `max_bytes`.

    A photo that would decode to more than `max_pixels` pixels or `max_decode_bytes` bytes is refused from its
    header, before any pixel is decoded: ImageError("too many pixels").
    """
    image = _decode(fileobj, max_side=max_side, max_pixels=max_pixels, max_decode_bytes=max_decode_bytes)
    image = _to_srgb(image)
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    while True:
        for quality in QUALITIES:
            data = _jpeg(image, quality)
            if len(data) <= max_bytes:
                return data
        if max(image.size) <= MIN_SIDE:
            return data  # a tiny photo over the cap means a silly cap; never loop forever
        image = image.resize((max(1, round(image.width * SHRINK)), max(1, round(image.height * SHRINK))),
                             Image.Resampling.LANCZOS)


def _decode(fileobj: BinaryIO, *, max_side: int, max_pixels: int, max_decode_bytes: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Our own limits below count the pixels and bytes that are really decoded.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(fileobj, formats=FORMATS)  # reads the header only
            # A JPEG decodes straight at 1/2, 1/4 or 1/8 scale when its long side still covers max_side: a 30 MB
            # photo then never needs its full-size pixels in memory. Other formats keep their header size.
            image.draft("RGB", _fit(image.size, max_side))
            if image.width * image.height > max_pixels or _working_bytes(image) > max_decode_bytes:
                raise ImageError("too many pixels")
            image.load()
            image = _shrink(image, max_side)
            return ImageOps.exif_transpose(image)
    except Image.DecompressionBombError:
        raise ImageError("too many pixels") from None
    except UnidentifiedImageError:
        raise ImageError("not an image") from None
    except (OSError, ValueError, SyntaxError, EOFError):
        raise ImageError("corrupt") from None


def _fit(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    longest = max(size)
    if longest <= max_side:
        return size
    return (-(-size[0] * max_side // longest), -(-size[1] * max_side // longest))  # rounded up: never undershoot


def _working_bytes(image: Image.Image) -> int:
    # Pillow keeps an RGB (or RGBA, CMYK) pixel in 4 bytes. Any other mode is converted before it is scaled and
    # alpha is scaled through a premultiplied copy: a second full-size image for a moment.
    return image.width * image.height * {"L": 1, "RGB": 4}.get(image.mode, 8)


def _shrink(image: Image.Image, max_side: int) -> Image.Image:
    # Scaled down before orientation and colour work, so that no full-size copy is made after the decode.
    if image.mode not in ("L", "LA", "RGB", "RGBA"):  # Pillow scales palette images by nearest neighbour
        has_alpha = image.mode == "PA" or "transparency" in image.info
        image = image.convert("RGBA" if has_alpha else "RGB")
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def _to_srgb(image: Image.Image) -> Image.Image:
    profile = image.info.get("icc_profile")
    if image.mode in ("RGBA", "LA", "P", "PA"):
        image = _flatten(image)
    elif image.mode != "RGB":
        image = image.convert("RGB")
    if profile:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            image = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: keep the pixels as they are
    return image


def _flatten(image: Image.Image) -> Image.Image:
    # Transparency on white, as a photo viewer shows it; JPEG has no alpha.
    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    # A new image object carries no info dict: nothing of the source's EXIF, XMP, ICC or comments is written.
    clean = Image.new("RGB", image.size)
    clean.paste(image)
    clean.save(out, "JPEG", quality=quality, optimize=True, progressive=False)
    return out.getvalue()
