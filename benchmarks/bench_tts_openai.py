"""Speech synthesis of a 50 MB streamed response: memory and event-loop lag.

Run: ``python benchmarks/bench_tts_openai.py``. Prints medians of several runs and ratios.

Both variants make the same ``/v1/audio/speech`` call through the real OpenAI SDK
against the local OpenAI-compatible test server (127.0.0.1), which streams a real
~50 MB OGG/Opus file (made once by ffmpeg from imageio-ffmpeg) in 64 KiB chunks:

- ``streamed``: ``OpenAISpeech.synthesize`` of nanobot-tts-openai —
  ``with_streaming_response``, each chunk written through ``trio.open_file``,
  then the duration read from the Ogg stream's head and tail;
- ``sync write``: the earlier nanobot's TTS code path — the whole body read
  (``response.content``), then ``open(path, "wb").write(...)`` inside the
  event loop (Fix #1 of the multi-modal review).

Measured per run:

- peak memory growth (tracemalloc, bytes above the level before the call; the
  server's copy of the body is allocated before and is not counted);
- event-loop lag: a probe task sleeps 1 ms in a loop and records how late it
  wakes up; the maximum overshoot is the longest time the loop was blocked
  (measured in separate runs, without tracemalloc, whose hooks slow allocation).

Each variant runs once untimed first: the first request of a process imports
the SDK's network stack (~10-20 ms of blocking imports, paid once).

Targets: memory growth < 10 MB, maximum lag <= 10 ms for ``streamed``.
The test server runs in a child process, so its threads do not compete with
the measured event loop for the GIL.
"""

from __future__ import annotations

import gc
import statistics
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import imageio_ffmpeg
import trio
from nanobot_tts_openai.config import OpenAISpeechConfig
from nanobot_tts_openai.synthesizer import OpenAISpeech

from nanobot_core import Secret

RUNS = 7
TARGET_BYTES = 50_000_000
CHUNK = 64 * 1024
TEXT = "A long answer, read aloud."

Variant = Callable[[OpenAISpeech, Path], Awaitable[None]]

# The child process: every speech request gets the body, streamed in CHUNK-sized pieces.
SERVER = """
import sys
from pathlib import Path
from nanobot_core.testing.openai_server import OpenAIServer, Response

body = Path(sys.argv[1]).read_bytes()
with OpenAIServer() as server:
    server.speech.default = Response.audio(body, chunk_size=int(sys.argv[2]))
    print(server.base_url, flush=True)
    sys.stdin.read()  # until the parent closes our stdin
"""


@contextmanager
def serving(body: Path) -> Iterator[str]:
    """The local OpenAI-compatible server in a child process; yields its base URL."""
    with subprocess.Popen(
        [sys.executable, "-c", SERVER, str(body), str(CHUNK)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as child:
        assert child.stdin is not None and child.stdout is not None
        try:
            yield child.stdout.readline().strip()
        finally:
            child.stdin.close()
            child.wait(timeout=10)


async def streamed(speech: OpenAISpeech, workdir: Path) -> None:
    (audio,) = await speech.synthesize(TEXT, workdir)
    assert audio.duration


async def sync_write(speech: OpenAISpeech, workdir: Path) -> None:
    """The baseline: whole body in memory, then a blocking write inside the loop."""
    assert speech._client is not None
    response = await speech._client.audio.speech.create(
        input=TEXT, model="gpt-4o-mini-tts", voice="alloy", response_format="opus"
    )
    with open(workdir / "speech.ogg", "wb") as file:  # noqa: ASYNC230 - the bug being measured
        file.write(response.content)


VARIANTS: dict[str, Variant] = {"streamed": streamed, "sync write": sync_write}


def make_body(folder: Path) -> Path:
    """~50 MB of real OGG/Opus: 60 s of noise at 510 kbit/s, looped by a stream copy."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    small, big = folder / "small.ogg", folder / "big.ogg"
    quiet = ("-nostdin", "-v", "error", "-y")
    source = ("-f", "lavfi", "-i", "anoisesrc=d=60:a=0.5")
    encode = ("-c:a", "libopus", "-b:a", "510k", "-ac", "2")
    trio.run(trio.run_process, [ffmpeg, *quiet, *source, *encode, str(small)])
    loops = TARGET_BYTES // small.stat().st_size
    copy = [ffmpeg, *quiet, "-stream_loop", str(loops), "-i", str(small), "-c", "copy", str(big)]
    trio.run(trio.run_process, copy)
    return big


async def run_once(variant: Variant, base_url: str, workdir: Path, memory: bool) -> float:
    """Peak memory growth in bytes (``memory``) or the maximum loop lag in seconds."""
    config = OpenAISpeechConfig(base_url=base_url, max_retries=0)
    async with OpenAISpeech(config, Secret(value="bench")) as speech:
        if memory:
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            await variant(speech, workdir)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            result = float(peak - before)
        else:
            result = await _max_lag(variant(speech, workdir))
    for path in await trio.Path(workdir).iterdir():
        await path.unlink()
    return result


async def _max_lag(work: Awaitable[None]) -> float:
    worst = 0.0

    async def probe() -> None:
        nonlocal worst
        while True:
            start = trio.current_time()
            await trio.sleep(0.001)
            worst = max(worst, trio.current_time() - start - 0.001)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(probe)
        await trio.sleep(0.01)  # the probe is running before the call starts
        await work
        nursery.cancel_scope.cancel()
    return worst


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        body = make_body(folder)
        size = body.stat().st_size
        workdir = folder / "work"
        workdir.mkdir()
        memory: dict[str, list[float]] = {name: [] for name in VARIANTS}
        lag: dict[str, list[float]] = {name: [] for name in VARIANTS}
        with serving(body) as base_url:
            for variant in VARIANTS.values():  # one-time imports of the SDK's network stack
                trio.run(run_once, variant, base_url, workdir, False)
            for _ in range(RUNS):
                for name, variant in VARIANTS.items():
                    lag[name].append(trio.run(run_once, variant, base_url, workdir, False))
                    memory[name].append(trio.run(run_once, variant, base_url, workdir, True))
        _report(size, memory, lag)


def _report(size: int, memory: dict[str, list[float]], lag: dict[str, list[float]]) -> None:
    mb, ms = 1e6, 1e3
    print(f"speech synthesis of a {size / mb:.1f} MB streamed OGG/Opus response, {RUNS} runs")
    print(f"{'':12} {'peak memory growth (MB)':>24} {'max loop lag (ms)':>20}")
    print(f"{'':12} {'median':>11} {'max':>12} {'median':>9} {'max':>10}")
    for name in VARIANTS:
        print(
            f"{name:12} {statistics.median(memory[name]) / mb:11.2f} "
            f"{max(memory[name]) / mb:12.2f} {statistics.median(lag[name]) * ms:9.2f} "
            f"{max(lag[name]) * ms:10.2f}"
        )
    mem_ratio = statistics.median(memory["sync write"]) / statistics.median(memory["streamed"])
    lag_ratio = statistics.median(lag["sync write"]) / statistics.median(lag["streamed"])
    print(f"ratio sync write / streamed: memory {mem_ratio:.1f}x, loop lag {lag_ratio:.1f}x")
    print("targets for streamed: memory growth < 10 MB, max loop lag <= 10 ms")


if __name__ == "__main__":
    main()
