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
  (measured in separate runs, without tracemalloc, whose hooks slow allocation);
- the same probe with no call running, as the machine's noise floor;
- the longest single task step in CPU time of the loop's thread (a trio
  instrument): the loop's own blocking work, which a busy machine does not
  inflate the way it inflates the wall-clock probe.

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
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import attrs
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


@attrs.frozen
class Run:
    memory: float = 0.0  # peak growth, bytes
    lag: float = 0.0  # the probe's worst overshoot, seconds (wall clock)
    step: float = 0.0  # the longest task step, seconds of the loop thread's CPU time


async def run_once(variant: Variant, base_url: str, workdir: Path, memory: bool) -> Run:
    """Memory (``memory``) or lag and step length of one call."""
    config = OpenAISpeechConfig(base_url=base_url, max_retries=0)
    async with OpenAISpeech(config, Secret(value="bench")) as speech:
        if memory:
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            await variant(speech, workdir)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            result = Run(memory=float(peak - before))
        else:
            result = await _loop_blocking(partial(variant, speech, workdir))
    for path in await trio.Path(workdir).iterdir():
        await path.unlink()
    return result


class StepTimer(trio.abc.Instrument):
    """The longest task step in CPU time of the loop's thread.

    Unlike the probe's wall-clock lag, it does not count time the process spent
    descheduled by a busy machine, only the loop's own work between two awaits.
    """

    def __init__(self) -> None:
        self.longest = 0.0
        self._started: float | None = None  # None: inside the step that added us

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self._started = time.thread_time()

    def after_task_step(self, task: trio.lowlevel.Task) -> None:
        if self._started is not None:
            self.longest = max(self.longest, time.thread_time() - self._started)


async def _loop_blocking(work: Callable[[], Awaitable[None]]) -> Run:
    worst = 0.0

    async def probe() -> None:
        nonlocal worst
        while True:
            start = trio.current_time()
            await trio.sleep(0.001)
            worst = max(worst, trio.current_time() - start - 0.001)

    timer = StepTimer()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(probe)
        await trio.sleep(0.01)  # the probe is running before the call starts
        trio.lowlevel.add_instrument(timer)
        try:
            await work()
            await trio.lowlevel.checkpoint()  # ends the step that finished the work
        finally:
            trio.lowlevel.remove_instrument(timer)
        nursery.cancel_scope.cancel()
    return Run(lag=worst, step=timer.longest)


async def idle_floor() -> Run:
    """The probe with no call running: the machine's own noise (load, scheduler)."""
    return await _loop_blocking(partial(trio.sleep, 0.5))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        body = make_body(folder)
        size = body.stat().st_size
        workdir = folder / "work"
        workdir.mkdir()
        runs: dict[str, list[Run]] = {name: [] for name in VARIANTS}
        floor: list[Run] = []
        with serving(body) as base_url:
            for variant in VARIANTS.values():  # one-time imports of the SDK's network stack
                trio.run(run_once, variant, base_url, workdir, False)
            for _ in range(RUNS):
                for name, variant in VARIANTS.items():
                    runs[name].append(trio.run(run_once, variant, base_url, workdir, False))
                    runs[name].append(trio.run(run_once, variant, base_url, workdir, True))
                floor.append(trio.run(idle_floor))
        _report(size, runs, floor)


def _report(size: int, runs: dict[str, list[Run]], floor: list[Run]) -> None:
    def column(name: str, metric: str, scale: float) -> list[float]:
        key = "memory" if metric == "memory" else metric
        wanted = [r for r in runs[name] if (r.memory > 0) == (metric == "memory")]
        return [getattr(r, key) * scale for r in wanted]

    metrics = [
        ("memory", 1e-6, "peak memory growth (MB)"),
        ("lag", 1e3, "loop lag, probe (ms)"),
        ("step", 1e3, "longest loop step, CPU (ms)"),
    ]
    print(f"speech synthesis of a {size / 1e6:.1f} MB streamed OGG/Opus response, {RUNS} runs")
    cap = OpenAISpeechConfig().max_audio_bytes
    print(f"(both through the capped transport: max_audio_bytes {cap / 2**20:g} MiB, counted)")
    print(f"{'':12}" + "".join(f"{title:>30}" for _, _, title in metrics))
    print(f"{'':12}" + f"{'median':>18}{'max':>12}" * len(metrics))
    for name in VARIANTS:
        cells = []
        for metric, scale, _ in metrics:
            values = column(name, metric, scale)
            cells.append(f"{statistics.median(values):18.2f}{max(values):12.2f}")
        print(f"{name:12}" + "".join(cells))
    ratios = []
    for metric, scale, title in metrics:
        old = statistics.median(column("sync write", metric, scale))
        new = statistics.median(column("streamed", metric, scale))
        ratios.append(f"{title.split(' (')[0]} {old / new:.1f}x")
    print("ratio sync write / streamed (medians): " + ", ".join(ratios))
    lags = [r.lag * 1e3 for r in floor]
    print(
        f"probe lag with no call running (0.5 s, the machine's noise floor): "
        f"median {statistics.median(lags):.2f} ms, max {max(lags):.2f} ms"
    )
    print("targets for streamed: memory growth < 10 MB, max loop lag <= 10 ms")


if __name__ == "__main__":
    main()
