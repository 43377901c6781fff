"""The image stage on a 12 MP phone photo (JPEG and HEIC) beside plain Pillow, and loop lag.

Side by side in one run, medians of several runs:
- ``pillow``: what a plain script would do, ``Image.open`` + ``thumbnail((2048, 2048))`` +
  ``save(JPEG, quality=85)`` (thumbnail uses libjpeg's draft scaling too), no orientation,
  metadata kept where Pillow keeps it;
- ``stage``: ``nanobot_core.image.prepare`` with the defaults (bomb check, draft, EXIF
  orientation, sRGB, metadata dropped, long side 2048, part under 3,000,000 bytes).
Peak memory: the growth of the peak RSS of a fresh process doing one run (imports excluded).
Loop lag: a trio task sleeping 1 ms while ``ImageProcessor.process`` works on the photos
(the stage runs in a thread; target: max <= 10 ms).

The photos (4000x3000, a gradient under fine noise, EXIF orientation 6 and a GPS position)
are cached under the temp dir between runs (first run: ~10 s to make the HEIC).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import trio

from nanobot_core import Attachment, AttachmentKind
from nanobot_core.builtins.media import ImageProcessor
from nanobot_core.image import ImageSettings, prepare
from nanobot_core.protocols import MediaContext

CACHE = Path(tempfile.gettempdir()) / "nanobot-bench-image-v1"
RUNS = 7
SIZE = (4000, 3000)


def photos() -> dict[str, Path]:
    from PIL import Image, ImageFilter

    CACHE.mkdir(exist_ok=True)
    paths = {"JPEG": CACHE / "photo-12mp.jpg", "HEIC": CACHE / "photo-12mp.heic"}
    if all(p.exists() for p in paths.values()):
        return paths
    gradient = Image.linear_gradient("L").resize(SIZE).convert("RGB")
    noise = Image.effect_noise(SIZE, 40).convert("RGB").filter(ImageFilter.GaussianBlur(1))
    picture = Image.blend(gradient, noise, 0.35)
    exif = Image.Exif()
    exif[0x0112] = 6
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (52.0, 31.0, 12.0)
    picture.save(paths["JPEG"], "JPEG", quality=92, exif=exif)
    import pillow_heif

    heif = pillow_heif.from_pillow(picture)
    heif.info["exif"] = exif.tobytes()
    heif.save(paths["HEIC"], quality=80)
    return paths


PLAIN = """
from PIL import Image
import pillow_heif
pillow_heif.register_heif_opener()
def run(path, out):
    with Image.open(path) as image:
        image.thumbnail((2048, 2048))
        image.save(out, "JPEG", quality=85)
"""

STAGE = """
from nanobot_core.image import ImageSettings, prepare
def run(path, out):
    picture = prepare(path, ImageSettings())
    open(out, "wb").write(picture.data)
"""

PEAK = """
import json, sys
{code}
from PIL import Image  # imported by both before the baseline is taken

def high_water():  # this process's own peak RSS in kB (ru_maxrss would include the parent's)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

before = high_water()
run(sys.argv[1], sys.argv[2])
print(json.dumps(high_water() - before))
"""


def plain(path: Path, out: Path) -> None:
    from PIL import Image

    with Image.open(path) as image:
        image.thumbnail((2048, 2048))
        image.save(out, "JPEG", quality=85)


def stage(path: Path, out: Path) -> None:
    out.write_bytes(prepare(path, ImageSettings()).data)


def median_ms(run: Callable[[Path, Path], None], path: Path, out: Path) -> float:
    samples = []
    for _ in range(RUNS):
        started = time.perf_counter()
        run(path, out)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def peak_mb(code: str, path: Path, out: Path) -> float:
    """Peak RSS growth of one run in a fresh process (median of 3), in MB."""
    script = PEAK.format(code=code)
    grown = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", script, str(path), str(out)],
                capture_output=True, text=True, check=True,
            ).stdout
        )
        for _ in range(3)
    ]  # fmt: skip
    return statistics.median(grown) / 1024


async def idle_run(seconds: float) -> list[float]:
    """The same probe with nothing else to do: what the machine's own load costs."""
    lags: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        before = time.perf_counter()
        await trio.sleep(0.001)
        lags.append((time.perf_counter() - before - 0.001) * 1000)
    return lags


async def lag_run(paths: list[Path], rounds: int) -> list[float]:
    lags: list[float] = []
    done = trio.Event()

    async def probe() -> None:
        while not done.is_set():
            before = time.perf_counter()
            await trio.sleep(0.001)
            lags.append((time.perf_counter() - before - 0.001) * 1000)

    processor = ImageProcessor()
    with tempfile.TemporaryDirectory() as tmp:
        context = MediaContext(workdir=Path(tmp))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(probe)
            for _ in range(rounds):
                for path in paths:
                    attachment = Attachment.from_path(path, AttachmentKind.IMAGE)
                    await processor.process(path, attachment, context)
            done.set()
    return lags


def main() -> None:
    paths = photos()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.jpg"
        print(f"12 MP photo ({SIZE[0]}x{SIZE[1]}), medians of {RUNS} runs; peak RSS growth of 3")
        print(f"{'':6} {'':8} {'time ms':>9} {'peak MB':>9} {'bytes out':>10}")
        for name, path in paths.items():
            rows = {}
            for label, run, code in (("pillow", plain, PLAIN), ("stage", stage, STAGE)):
                ms = median_ms(run, path, out)
                size = out.stat().st_size
                mb = peak_mb(code, path, out)
                rows[label] = ms
                print(f"{name:6} {label:8} {ms:9.0f} {mb:9.1f} {size:10,}")
            print(f"{name:6} {'ratio':8} {rows['stage'] / rows['pillow']:9.2f}x  (stage / pillow)")
        print(
            "input sizes: " + ", ".join(f"{n} {p.stat().st_size:,} bytes" for n, p in paths.items())
        )
    started = time.perf_counter()
    busy = sorted(trio.run(lag_run, list(paths.values()), 3))
    idle = sorted(trio.run(idle_run, time.perf_counter() - started))
    print(f"load average before the lag runs: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for label, lags in (("idle loop (baseline)", idle), ("during 6 image stages", busy)):
        p99 = lags[int(len(lags) * 0.99)]
        print(
            f"loop lag, {label:22}: median {statistics.median(lags):.2f} ms, p99 {p99:.2f} ms, "
            f"max {lags[-1]:.2f} ms over {len(lags)} probes (target: max <= 10 ms)"
        )


if __name__ == "__main__":
    main()
