"""provider_openai: overhead over a bare AsyncOpenAI call, concurrency, CLI start-up.

Everything runs against ``nanobot_core.testing.openai_server.OpenAIServer`` on
127.0.0.1 (real HTTP, threads), measured side by side in the same run:

1. per call: the plugin's ``complete`` vs a bare ``AsyncOpenAI.chat.completions.create``
   (same server, same message), and a full runtime turn (``Harness.say``: queue,
   session store, agent loop, plugin) vs the bare call. Target: <= 1.2x. The plugin
   runs with its byte cap (``max_response_bytes``) and whole-request deadline in its
   HTTP transport; a second pair of rows does the same with a 256 KiB reply, where
   counting every byte would show if it cost anything.
2. 20 and 100 concurrent chats with 200 ms server latency: through the plugin alone
   and through the runtime (one chat per user). Targets: <= 0.4 s and <= 0.8 s wall.
3. ``nanobot chat -m hello`` end to end (a subprocess, openai model, local server)
   vs ``python -c "import openai"``. Target: <= 1.5x.
"""

from __future__ import annotations

import itertools
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import trio

from nanobot_core import ChatMessage, ChatRequest, Secret
from nanobot_core.testing import Harness
from nanobot_core.testing.openai_server import OpenAIServer, Response

KEY = "sk-bench"
CALLS = 300
ROUNDS = 5


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


async def per_call(call: Callable[[], Awaitable[Any]], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def overhead(server: OpenAIServer, storage: Path) -> None:
    import nanobot_provider_openai.plugin as plugin
    from nanobot_provider_openai import OpenAIChatModel, OpenAIConfig
    from openai import AsyncOpenAI

    config = OpenAIConfig(api_key=Secret(KEY), base_url=server.base_url, max_retries=0)
    request = ChatRequest(
        "test-model",
        (ChatMessage.of("system", "You are a helpful assistant."), ChatMessage.of("user", "hi")),
    )
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "hi"},
    ]
    settings = {
        "agent": {"model": "openai/test-model", "history_messages": 0},
        "providers": {"openai": {"api_key": KEY, "base_url": server.base_url, "max_retries": 0}},
        "limits": {"turn": "1000000/second"},
    }
    bare: list[float] = []
    ours: list[float] = []
    turns: list[float] = []
    async with (
        AsyncOpenAI(api_key=KEY, base_url=server.base_url, max_retries=0) as client,
        OpenAIChatModel(config, config.api_key) as model,  # type: ignore[arg-type]
        Harness.start(settings, plugins=[plugin], storage=storage) as bot,
    ):

        async def bare_call() -> Any:
            return await client.chat.completions.create(model="test-model", messages=messages)

        async def plugin_call() -> Any:
            return await model.complete(request)

        chats = itertools.cycle([f"chat{i}" for i in range(10)])

        async def turn() -> Any:
            # A turn's latency as a user sees it: the chat's previous turn is over
            # (ten chats in rotation), so this one never waits for that turn's
            # durable commit, which runs while its reply is sent.
            return await bot.say("hi", chat_id=next(chats))

        for call in (bare_call, plugin_call, turn):  # warm-up: connections, imports
            await per_call(call, 20)
        for _ in range(ROUNDS):  # interleaved, so machine noise hits all three alike
            bare += await per_call(bare_call, CALLS // ROUNDS)
            ours += await per_call(plugin_call, CALLS // ROUNDS)
            turns += await per_call(turn, CALLS // ROUNDS)
        server.chat.default = Response.chat("x" * 256 * 1024)
        big_bare: list[float] = []
        big_ours: list[float] = []
        for call in (bare_call, plugin_call):
            await per_call(call, 5)
        for _ in range(ROUNDS):
            big_bare += await per_call(bare_call, CALLS // ROUNDS // 3)
            big_ours += await per_call(plugin_call, CALLS // ROUNDS // 3)
        server.chat.default = Response.chat("ok")
    b, p, t = median_ms(bare), median_ms(ours), median_ms(turns)
    cap = config.max_response_bytes / 1024 / 1024
    print(f"per call, median of {CALLS} (instant local server; plugin byte cap {cap:g} MiB):")
    print(f"  bare AsyncOpenAI create   {b:7.3f} ms")
    print(f"  plugin complete           {p:7.3f} ms   ratio {p / b:.2f}x (target <= 1.2x)")
    print(f"  runtime turn (Harness)    {t:7.3f} ms   ratio {t / b:.2f}x (target <= 1.2x)")
    bb, bo = median_ms(big_bare), median_ms(big_ours)
    print(f"256 KiB reply, median of {len(big_bare)}:")
    print(f"  bare AsyncOpenAI create   {bb:7.3f} ms")
    print(f"  plugin complete (capped)  {bo:7.3f} ms   ratio {bo / bb:.2f}x (target <= 1.2x)")
    print(f"  connections used by the server: {server.connection_count}")


async def concurrency(server: OpenAIServer, storage: Path) -> None:
    import nanobot_provider_openai.plugin as plugin
    from nanobot_provider_openai import OpenAIChatModel, OpenAIConfig

    server.chat.default = Response.chat("ok", latency=0.2)
    config = OpenAIConfig(api_key=Secret(KEY), base_url=server.base_url, max_retries=0)
    request = ChatRequest("test-model", (ChatMessage.of("user", "hi"),))
    settings = {
        "agent": {"model": "openai/test-model"},
        "providers": {"openai": {"api_key": KEY, "base_url": server.base_url, "max_retries": 0}},
        "runtime": {"max_concurrent_chats": 128, "queue_size": 8},
    }
    print("concurrent chats, server latency 200 ms (wall time, median of 3):")
    async with OpenAIChatModel(config, config.api_key) as model:  # type: ignore[arg-type]
        for n, target in ((20, 0.4), (100, 0.8)):
            walls = []
            for _ in range(3):
                started = time.perf_counter()
                async with trio.open_nursery() as nursery:
                    for _ in range(n):
                        nursery.start_soon(model.complete, request)
                walls.append(time.perf_counter() - started)
            wall = statistics.median(walls)
            print(f"  plugin alone   {n:3d} calls  {wall:.3f} s (target <= {target} s)")
    async with Harness.start(settings, plugins=[plugin], storage=storage) as bot:
        sent = 0
        for n, target in ((20, 0.4), (100, 0.8)):
            walls = []
            for round_ in range(3):
                started = time.perf_counter()
                for i in range(n):
                    admission = await bot.submit("hi", chat_id=f"c{round_}-{i}", user_id=f"u{i}")
                    assert admission == "accepted", admission
                sent += n
                await bot.channel.wait_for(sent)
                walls.append(time.perf_counter() - started)
            failed = [o.text for o in bot.channel.sent if o.text != "ok"]
            assert not failed, failed[:3]
            wall = statistics.median(walls)
            print(f"  runtime turns  {n:3d} chats  {wall:.3f} s (target <= {target} s)")
    server.chat.default = Response.chat("ok")


def cli_startup(server: OpenAIServer, workdir: Path) -> None:
    config = workdir / "nanobot.toml"
    config.write_text(
        "[agent]\n"
        'model = "openai/test-model"\n'
        "[storage]\n"
        f'path = "{workdir / "store"}"\n'
        "[providers.openai]\n"
        f'api_key = "{KEY}"\n'
        f'base_url = "{server.base_url}"\n'
    )
    chat = [sys.executable, "-m", "nanobot_core", "chat", "-c", str(config), "-m", "hello"]
    baseline = [sys.executable, "-c", "import openai"]

    def run(command: list[str]) -> float:
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, cwd=workdir, check=False)
        elapsed = time.perf_counter() - started
        if result.returncode != 0:
            raise RuntimeError(f"{command[2:]} failed: {result.stderr.decode()[-500:]}")
        return elapsed

    run(chat), run(baseline)  # warm the file cache
    ours, base = [], []
    for _ in range(7):
        ours.append(run(chat))
        base.append(run(baseline))
    o, b = statistics.median(ours), statistics.median(base)
    print("process start to exit, median of 7:")
    print(f"  python -c 'import openai'   {b:.3f} s")
    print(f"  nanobot chat -m hello       {o:.3f} s   ratio {o / b:.2f}x (target <= 1.5x)")


async def bench() -> None:
    with OpenAIServer() as server, tempfile.TemporaryDirectory() as tmp:
        await overhead(server, Path(tmp) / "a")
        await concurrency(server, Path(tmp) / "b")
        cli_startup(server, Path(tmp))


def main() -> None:
    trio.run(bench)


if __name__ == "__main__":
    main()
