"""Pictures made fit for a vision model: upright, small enough, and with nothing else in them.

Every image is decoded with Pillow (HEIC/HEIF through pillow-heif, AVIF and TIFF
as Pillow reads them) and written anew, so what reaches a provider is only
pixels: EXIF (the GPS position included), XMP, comments and colour profiles
are dropped after the EXIF orientation is applied and the colours are turned
into sRGB. The long side is cut to ``max_side`` and the encoding is chosen so
the part stays under ``max_part_bytes``.

``prepare`` blocks (decoding a 12 MP photo takes a few hundred milliseconds):
run it in a thread. Memory is bounded before any pixel is decoded: the header's
size is checked against ``MAX_PIXELS``, and a JPEG is decoded straight at the
smallest scale that still covers ``max_side`` (libjpeg's DCT scaling).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from attrs import frozen

from .errors import MediaError

if TYPE_CHECKING:
    from PIL import Image

MAX_PIXELS = 80_000_000  # 48 MP phone photos pass; 80 MP of RGBA is 320 MB decoded
MIN_SIDE = 64  # re-encoding never shrinks a picture below this to meet the byte cap
FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "HEIF", "AVIF", "TIFF", "BMP")
_QUALITIES = (85, 70, 55)


@frozen
class ImageSettings:
    max_side: int = 2048
    max_part_bytes: int = 3_000_000


@frozen
class Picture:
    """An image ready for the model: encoded bytes, their MIME type, and notes for it."""

    data: bytes
    mime_type: str
    width: int
    height: int
    frames: int = 1  # more than one: an animation, of which ``data`` is the first frame


def prepare(path: Path, settings: ImageSettings) -> Picture:
    """Decode, orient, strip, downscale and re-encode the image at ``path`` (blocking).

    Raises ``MediaError`` with a one-line reason for a file that is no image
    Pillow reads, that claims too many pixels, or that does not decode.
    """
    image = _open(path)
    picture = None
    try:
        frames = getattr(image, "n_frames", 1)
        _check_pixels(*image.size)
        if image.format == "JPEG":
            image.draft(image.mode, _scaled(image.size, settings.max_side))
        picture = _first_frame(image)
    finally:
        if picture is not image:
            image.close()
    # Downscale first: turning, colour conversion and the alpha check then touch
    # a 4 MP picture instead of 12 MP (the long side is the same either way up).
    picture.thumbnail((settings.max_side, settings.max_side))
    _upright(picture)
    picture = _srgb(picture)
    data, mime, (width, height) = _encode(picture, settings.max_part_bytes)
    return Picture(data=data, mime_type=mime, width=width, height=height, frames=frames)


def _open(path: Path) -> Image.Image:
    from PIL import Image, UnidentifiedImageError

    _register_heif()
    try:
        return Image.open(path, formats=FORMATS)
    except UnidentifiedImageError:
        raise MediaError(
            "the file is not an image I can read (JPEG, PNG, GIF, WebP, HEIC, AVIF, TIFF or BMP)."
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        found = re.search(r"\((\d+) pixels\)", str(error))
        _check_pixels(int(found.group(1)) if found else MAX_PIXELS + 1, 1)
        raise MediaError("the image claims too many pixels to decode safely.") from None
    except (OSError, ValueError, SyntaxError) as error:  # a header cut short or corrupt
        raise MediaError(f"the image does not decode ({_reason(error)}).") from None


def _register_heif() -> None:
    try:
        from pillow_heif import register_heif_opener
    except ImportError:  # HEIC then reads as "not an image I can read"
        return
    register_heif_opener()


def _check_pixels(width: int, height: int) -> None:
    pixels = width * height
    if pixels <= MAX_PIXELS:
        return
    size = f"{width}x{height} pixels" if height > 1 else f"{pixels / 1e6:.0f} megapixels"
    raise MediaError(
        f"the image is {size}, {pixels / MAX_PIXELS:.1f} times the "
        f"{MAX_PIXELS / 1e6:.0f}-megapixel limit; it was not decoded."
    )


def _scaled(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _first_frame(image: Image.Image) -> Image.Image:
    """The first frame's pixels, decoded; a truncated or corrupt file is one clear line.

    ``load`` closes the file of a single-frame image and keeps its pixels; an
    animation keeps its file open, so its first frame is copied out (with the
    metadata the orientation and colours need) and the file closed.
    """
    try:
        image.seek(0)
        image.load()
        if getattr(image, "n_frames", 1) == 1:
            return image
        first = image.copy()
    except (OSError, ValueError, SyntaxError) as error:
        raise MediaError(f"the image does not decode ({_reason(error)}).") from None
    first.info = dict(image.info)
    return first


def _reason(error: BaseException) -> str:
    text = str(error).rstrip(".") or type(error).__name__
    return text[:120]


def _upright(image: Image.Image) -> None:
    from PIL import ImageOps

    ImageOps.exif_transpose(image, in_place=True)


def _srgb(image: Image.Image) -> Image.Image:
    """Colours in sRGB, alpha kept only where it is used; no metadata left on the image."""
    from PIL import Image, ImageCms

    icc = image.info.get("icc_profile")
    alpha = _has_alpha(image)
    mode = "RGBA" if alpha else ("L" if image.mode in ("1", "L") else "RGB")
    if image.mode != mode:
        image = image.convert(mode)
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"))
        except (ImageCms.PyCMSError, OSError, ValueError):
            converted = None  # a broken profile: the pixels as they are
        if isinstance(converted, Image.Image):
            image = converted
    image.info = {}
    return image


def _has_alpha(image: Image.Image) -> bool:
    if image.mode in ("RGBA", "LA", "La", "RGBa", "PA") or (
        image.mode == "P" and "transparency" in image.info
    ):
        lowest = image.convert("RGBA").getchannel("A").getextrema()[0]
        return isinstance(lowest, int) and lowest < 255
    return False


def _encode(image: Image.Image, max_bytes: int) -> tuple[bytes, str, tuple[int, int]]:
    """The smallest change that fits: a lower quality when the part is a little too big,
    fewer pixels (by the square root of how much too big) when it is far too big."""
    while True:
        for data, mime in _encodings(image):
            if len(data) <= max_bytes:
                return data, mime, image.size
            if mime != "image/png" and len(data) > 1.5 * max_bytes:
                break  # no lower quality makes up for that many pixels
        if max(image.size) <= MIN_SIDE:
            return data, mime, image.size
        shrink = min(0.85, 0.95 * (max_bytes / len(data)) ** 0.5)
        image = image.resize(_scaled(image.size, max(MIN_SIDE, int(max(image.size) * shrink))))


def _encodings(image: Image.Image) -> Iterator[tuple[bytes, str]]:
    """Encodings in order of preference, each made only when the one before was too big.

    Transparency: PNG (lossless, what a screenshot wants), then WebP, which keeps
    alpha at a fraction of the size; every documented provider takes both.
    """
    if image.mode == "RGBA":
        yield _save(image, "PNG", compress_level=6), "image/png"
        for quality in _QUALITIES:
            yield _save(image, "WEBP", quality=quality, method=4), "image/webp"
        return
    for quality in _QUALITIES:
        yield _save(image, "JPEG", quality=quality), "image/jpeg"


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()
