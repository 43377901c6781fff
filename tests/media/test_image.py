"""The image stage: upright, metadata-free, small enough, and one line for what is no picture."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageCms

from nanobot_core import MediaError
from nanobot_core.image import MAX_PIXELS, ImageSettings, prepare

RED, BLUE = (255, 0, 0), (0, 0, 255)


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def near(pixel: Any, colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


def test_the_sample_really_is_rotated_and_located(samples: Any) -> None:
    """The fixture is what a phone writes: turned pixels, orientation 6, a GPS position."""
    with Image.open(samples.jpeg_rotated) as original:
        assert original.size == (64, 32)
        exif = original.getexif()
    assert exif[0x0112] == 6
    assert exif.get_ifd(0x8825)[1] == "N"


def test_a_phone_photo_comes_out_upright_and_without_metadata(samples: Any) -> None:
    picture = prepare(samples.jpeg_rotated, ImageSettings())
    image = decoded(picture.data)
    assert picture.mime_type == "image/jpeg" and image.format == "JPEG"
    assert image.size == (32, 64) == (picture.width, picture.height)  # displayed as portrait
    assert near(image.getpixel((16, 4)), RED) and near(image.getpixel((16, 60)), BLUE)
    exif = image.getexif()
    assert len(exif) == 0 and len(exif.get_ifd(0x8825)) == 0  # no orientation, make or GPS
    assert b"PhoneMaker" not in picture.data and b"GPS" not in picture.data
    assert not {"exif", "icc_profile", "xmp", "XML:com.adobe.xmp"} & set(image.info)


@pytest.mark.parametrize("name", ["heic", "avif", "tiff", "jpeg_named_png"])
def test_other_formats_are_read_and_become_jpeg(samples: Any, name: str) -> None:
    picture = prepare(getattr(samples, name), ImageSettings())
    image = decoded(picture.data)
    assert image.format == "JPEG"
    width, height = image.size
    if name == "jpeg_named_png":  # the rotated JPEG under another name
        assert (width, height) == (32, 64)
    else:
        assert (width, height) == (64, 32)
        assert near(image.getpixel((8, 16)), RED) and near(image.getpixel((56, 16)), BLUE)


def test_transparency_is_kept_as_png(samples: Any) -> None:
    picture = prepare(samples.png_alpha, ImageSettings())
    image = decoded(picture.data)
    assert picture.mime_type == "image/png" and image.mode == "RGBA"
    assert image.getpixel((5, 2))[3] == 0 and image.getpixel((5, 15))[3] == 255


def test_an_opaque_png_with_an_alpha_channel_is_a_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "opaque.png"
    Image.new("RGBA", (20, 20), (10, 200, 10, 255)).save(path)
    assert prepare(path, ImageSettings()).mime_type == "image/jpeg"


@pytest.mark.parametrize("name", ["gif_animated", "webp_animated", "apng"])
def test_an_animation_becomes_its_first_frame(samples: Any, name: str) -> None:
    picture = prepare(getattr(samples, name), ImageSettings())
    assert picture.frames == 3
    image = decoded(picture.data)
    assert getattr(image, "n_frames", 1) == 1
    assert near(image.getpixel((20, 15)), RED)


def test_the_long_side_is_cut_to_max_side(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    Image.new("RGB", (3000, 1000), RED).save(path)
    picture = prepare(path, ImageSettings(max_side=1024))
    assert (picture.width, picture.height) == (1024, 341)
    assert decoded(picture.data).size == (1024, 341)


def test_a_big_jpeg_is_decoded_at_a_reduced_scale_and_still_exact(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    Image.new("RGB", (4096, 3072), BLUE).save(path, quality=90)
    picture = prepare(path, ImageSettings(max_side=512))
    assert (picture.width, picture.height) == (512, 384)


def test_the_part_stays_under_max_part_bytes(samples: Any) -> None:
    """Noise compresses worst: quality, then size, give way until the part fits."""
    for cap in (3_000_000, 400_000, 60_000):
        picture = prepare(samples.big_noise, ImageSettings(max_part_bytes=cap))
        assert len(picture.data) <= cap
        assert decoded(picture.data).size == (picture.width, picture.height)
    assert max(picture.width, picture.height) < 2048  # the smallest cap needed fewer pixels


def test_transparent_noise_falls_back_to_webp(tmp_path: Path) -> None:
    noise = Image.effect_noise((600, 600), 100).convert("RGBA")
    noise.putalpha(Image.linear_gradient("L").resize((600, 600)))
    path = tmp_path / "noisy-alpha.png"
    noise.save(path)
    assert path.stat().st_size > 300_000
    picture = prepare(path, ImageSettings(max_part_bytes=200_000))
    assert picture.mime_type == "image/webp" and len(picture.data) <= 200_000
    assert decoded(picture.data).mode == "RGBA"


def test_a_colour_profile_is_applied_then_dropped(tmp_path: Path) -> None:
    path = tmp_path / "profiled.jpg"
    image = Image.new("RGB", (16, 16), (128, 128, 128))
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image.save(path, icc_profile=icc)
    with Image.open(path) as written:
        assert "icc_profile" in written.info
    picture = prepare(path, ImageSettings())
    out = decoded(picture.data)
    assert "icc_profile" not in out.info
    assert near(out.getpixel((8, 8)), (128, 128, 128), 4)  # sRGB to sRGB: unchanged


def test_a_decompression_bomb_is_refused_from_its_header(samples: Any) -> None:
    with pytest.raises(MediaError) as raised:
        prepare(samples.bomb, ImageSettings())
    message = str(raised.value)
    assert message == (
        f"the image is 900 megapixels, {900e6 / MAX_PIXELS:.1f} times the "
        f"{MAX_PIXELS / 1e6:.0f}-megapixel limit; it was not decoded."
    )


def test_a_bomb_under_pillows_own_limit_names_its_size(samples: Any) -> None:
    # 82 MP: over our limit, under Pillow's warning, so the header's size is known
    with pytest.raises(MediaError, match=r"^the image is 20000x4100 pixels, 1\.0 times"):
        prepare(samples.wide_bomb, ImageSettings())


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("truncated_jpeg", "the image does not decode ("),
        ("not_an_image", "the file is not an image I can read (JPEG, PNG, GIF, WebP, HEIC"),
        ("mp4_video", "the file is not an image I can read"),
    ],
)
def test_what_does_not_decode_is_one_line(samples: Any, name: str, message: str) -> None:
    with pytest.raises(MediaError) as raised:
        prepare(getattr(samples, name), ImageSettings())
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)
