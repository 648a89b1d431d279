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


def reencode_photo(fileobj: BinaryIO, *, max_side: int, max_bytes: int, max_pixels: int) -> bytes:
    """Decode a photo, apply its EXIF orientation, fit it in `max_side` px and return JPEG bytes <= `max_bytes`."""
    image = _decode(fileobj, max_side=max_side, max_pixels=max_pixels)
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


def _decode(fileobj: BinaryIO, *, max_side: int, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Our own limit below counts the pixels that are really decoded.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(fileobj, formats=FORMATS)
            # A JPEG decodes straight at 1/2, 1/4 or 1/8 scale when that still covers max_side: a 30 MB
            # photo then never needs its full-size pixels in memory.
            image.draft("RGB", (max_side, max_side))
            if image.width * image.height > max_pixels:
                raise ImageError("too many pixels")
            image.load()
            return ImageOps.exif_transpose(image)
    except Image.DecompressionBombError:
        raise ImageError("too many pixels") from None
    except UnidentifiedImageError:
        raise ImageError("not an image") from None
    except (OSError, ValueError, SyntaxError, EOFError):
        raise ImageError("corrupt") from None


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
