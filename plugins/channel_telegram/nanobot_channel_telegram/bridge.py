"""The one place where trio meets asyncio: telethon runs on a trio-asyncio loop.

Everything else in the plugin is trio code that calls telethon through
``Bridge.call`` and hands trio functions to telethon through
``Bridge.asyncio_callback``. Swapping trio-asyncio for, say, a thread with its
own asyncio loop means rewriting this module only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import ParamSpec, TypeVar

import trio_asyncio  # type: ignore[import-untyped]  # no py.typed

P = ParamSpec("P")
T = TypeVar("T")


class Bridge:
    """Calls between trio tasks and the asyncio loop that telethon lives on."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    async def call(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Await an asyncio coroutine function from any trio task (cancellation crosses over)."""
        result: T = await trio_asyncio.aio_as_trio(fn, loop=self._loop)(*args, **kwargs)
        return result

    def asyncio_callback(self, fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        """Wrap a trio async function so asyncio code (a telethon handler) can await it."""
        wrapped: Callable[P, Awaitable[T]] = trio_asyncio.trio_as_aio(fn, loop=self._loop)
        return wrapped


@asynccontextmanager
async def open_bridge() -> AsyncIterator[Bridge]:
    """An asyncio loop inside the current trio task tree, closed when the block exits.

    The loop's own nursery would wrap whatever the block raises in an exception
    group; a lone error comes out as itself, so callers see ``ConfigError`` as such.
    """
    try:
        async with trio_asyncio.open_loop() as loop:
            yield Bridge(loop)
    except BaseExceptionGroup as group:
        raise _sole(group) from None


def _sole(group: BaseExceptionGroup[BaseException]) -> BaseException:
    leaves = group.exceptions
    while len(leaves) == 1 and isinstance(leaves[0], BaseExceptionGroup):
        leaves = leaves[0].exceptions
    return leaves[0] if len(leaves) == 1 else group
