"""Real sample files for the media tests, made once per session.

Pictures come from Pillow (and pillow-heif); audio and video from the bundled
imageio-ffmpeg, never whatever ffmpeg PATH gives, so the same bytes are made
on every machine. pytest-trio has no session-scoped async fixtures, so this is
synchronous ``subprocess`` work.
"""

from __future__ import annotations

import io
import struct
import subprocess
import zlib
from pathlib import Path

import attrs
import pytest
from PIL import Image

RED, BLUE = (255, 0, 0), (0, 0, 255)
DEBIAN_FFMPEG = Path("/usr/bin/ffmpeg")


def bundled_ffmpeg() -> Path:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="the bundled ffmpeg is needed")
    return Path(imageio_ffmpeg.get_ffmpeg_exe())


@pytest.fixture(scope="session")
def bundled() -> Path:
    return bundled_ffmpeg()


@pytest.fixture(params=["bundled", "debian"])
def ffmpeg(request: pytest.FixtureRequest) -> Path:
    """Each ffmpeg a test must pass on: imageio-ffmpeg's, and Debian's 5.1 when installed."""
    if request.param == "bundled":
        return bundled_ffmpeg()
    if not DEBIAN_FFMPEG.exists():
        pytest.skip("Debian's ffmpeg is not at /usr/bin/ffmpeg (apt-get install ffmpeg)")
    return DEBIAN_FFMPEG


def ff(binary: Path, *args: str) -> None:
    subprocess.run(
        [str(binary), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True
    )


def two_halves(width: int, height: int, mode: str = "RGB") -> Image.Image:
    """Left half red, right half blue: a turn by 90 degrees shows as red on top."""
    image = Image.new(mode, (width, height), RED)
    image.paste(BLUE, (width // 2, 0, width, height))
    return image


def exif_rotated_jpeg() -> bytes:
    """64x32 stored pixels with EXIF orientation 6 (displayed turned 90 degrees
    clockwise: 32x64, red on top) and a GPS position, as a phone writes it."""
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation
    exif[0x010F] = "PhoneMaker"  # Make
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (52.0, 31.0, 12.0)  # GPSLatitudeRef, GPSLatitude
    gps[3], gps[4] = "E", (13.0, 24.0, 36.0)
    out = io.BytesIO()
    two_halves(64, 32).save(out, "JPEG", exif=exif, quality=95)
    return out.getvalue()


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A PNG header claiming width x height over one tiny (wrong) data chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 100))
        + chunk(b"IEND", b"")
    )


def frames(count: int = 3) -> list[Image.Image]:
    colours = [RED, (0, 255, 0), BLUE, (255, 255, 0)]
    return [Image.new("RGB", (40, 30), colours[i % 4]) for i in range(count)]


@attrs.frozen
class Samples:
    root: Path
    # pictures
    jpeg_rotated: Path  # EXIF orientation 6 + GPS, 64x32 stored
    heic: Path  # 64x32, red left
    avif: Path
    tiff: Path
    png_alpha: Path  # RGBA, half transparent
    gif_animated: Path  # 3 frames, first red
    webp_animated: Path
    apng: Path
    jpeg_named_png: Path  # a JPEG called photo.png
    png_named_mp4: Path  # a PNG called clip.mp4
    bomb: Path  # header claims 30000x30000
    wide_bomb: Path  # header claims 20000x4100: over our limit, under Pillow's
    truncated_jpeg: Path  # a JPEG cut after its header
    not_an_image: Path  # text called picture.jpg
    empty: Path  # zero bytes
    big_noise: Path  # 3000x2000 noise PNG (~18 MB): over every size cap
    # audio
    ogg_opus: Path
    wav: Path
    mp3: Path
    flac: Path
    m4a: Path
    mp4_audio: Path  # audio-only MP4 named .mp4
    m4b: Path
    amr: Path
    wma: Path
    adts: Path  # ADTS AAC named .aac
    gp3_audio: Path  # 3GP holding only AMR audio
    ts_audio: Path  # MPEG-TS with only an AAC stream
    mka: Path  # Matroska with only audio
    silent_ogg: Path  # an Ogg/Opus stream with no samples at all
    # video
    gp3_video: Path  # 3GP with H.263 video + AMR audio
    ts_video: Path  # MPEG-TS with H.264 + AAC
    mkv_video: Path
    webm_video: Path
    mp4_video: Path


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Samples:
    import pillow_heif

    pillow_heif.register_heif_opener()
    root = tmp_path_factory.mktemp("samples")
    ffmpeg = bundled_ffmpeg()

    def picture(name: str, image: Image.Image, fmt: str, **options: object) -> Path:
        path = root / name
        image.save(path, fmt, **options)
        return path

    def write(name: str, data: bytes) -> Path:
        path = root / name
        path.write_bytes(data)
        return path

    def audio(name: str, *args: str, seconds: float = 1.0) -> Path:
        path = root / name
        source = f"sine=frequency=440:sample_rate=16000:duration={seconds}"
        ff(ffmpeg, "-f", "lavfi", "-i", source, *args, str(path))
        return path

    def video(name: str, *args: str) -> Path:
        path = root / name
        ff(
            ffmpeg,
            *("-f", "lavfi", "-i", "testsrc=size=176x144:rate=10:duration=1"),
            *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000:duration=1"),
            *args,
            str(path),
        )
        return path

    alpha = two_halves(40, 20, "RGBA")
    alpha.paste((0, 0, 0, 0), (0, 0, 40, 10))
    jpeg = exif_rotated_jpeg()
    heif = pillow_heif.from_pillow(two_halves(64, 32))
    heic = root / "photo.heic"
    heif.save(heic, quality=90)
    rng = Image.effect_noise((3000, 2000), 100).convert("RGB")
    first, *rest = frames()
    return Samples(
        root=root,
        jpeg_rotated=write("rotated.jpg", jpeg),
        heic=heic,
        avif=picture("photo.avif", two_halves(64, 32), "AVIF", quality=90),
        tiff=picture("scan.tiff", two_halves(64, 32), "TIFF"),
        png_alpha=picture("alpha.png", alpha, "PNG"),
        gif_animated=picture("anim.gif", first, "GIF", save_all=True, append_images=rest),
        webp_animated=picture("anim.webp", first, "WEBP", save_all=True, append_images=rest),
        apng=picture("anim.png", first, "PNG", save_all=True, append_images=rest),
        jpeg_named_png=write("photo.png", jpeg),
        png_named_mp4=picture("clip.mp4", two_halves(20, 10), "PNG"),
        bomb=write("bomb.png", png_bomb()),
        wide_bomb=write("wide-bomb.png", png_bomb(20000, 4100)),
        truncated_jpeg=write("cut.jpg", jpeg[:300]),
        not_an_image=write("picture.jpg", b"this is not a picture, only text\n" * 10),
        empty=write("empty.jpg", b""),
        big_noise=picture("noise.png", rng, "PNG"),
        ogg_opus=audio("voice.ogg", "-c:a", "libopus"),
        wav=audio("sound.wav"),
        mp3=audio("song.mp3", "-c:a", "libmp3lame"),
        flac=audio("sound.flac"),
        m4a=audio("sound.m4a", "-c:a", "aac"),
        mp4_audio=audio("audio-only.mp4", "-c:a", "aac"),
        m4b=audio("book.m4b", "-c:a", "aac", "-f", "ipod", "-brand", "M4B "),
        amr=audio("memo.amr", "-ar", "8000", "-ac", "1", "-c:a", "libopencore_amrnb"),
        wma=audio("sound.wma", "-c:a", "wmav2"),
        adts=audio("sound.aac", "-c:a", "aac", "-f", "adts"),
        gp3_audio=audio("memo.3gp", "-ar", "8000", "-ac", "1", "-c:a", "libopencore_amrnb"),
        ts_audio=audio("radio.ts", "-c:a", "aac", "-f", "mpegts"),
        mka=audio("sound.mka", "-c:a", "libopus"),
        silent_ogg=audio("silent.ogg", "-c:a", "libopus", "-t", "0"),
        gp3_video=video("clip.3gp", "-c:v", "h263", "-ar", "8000", "-c:a", "libopencore_amrnb"),
        ts_video=video("clip.ts", "-c:v", "libx264", "-c:a", "aac"),
        mkv_video=video("clip.mkv", "-c:v", "libx264", "-c:a", "aac"),
        webm_video=video("clip.webm", "-c:v", "libvpx", "-c:a", "libopus"),
        mp4_video=video("real.mp4", "-c:v", "libx264", "-c:a", "aac"),
    )
