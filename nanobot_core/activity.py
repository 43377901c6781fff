"""What a turn is doing right now, reported to the user's channel."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio
from attrs import define, field

from .messages import Activity
from .protocols import Channel

log = logging.getLogger(__name__)


@define
class ActivityReporter:
    """Tells one chat's channel the current activity; nested steps restore the outer one."""

    channel: Channel
    chat_id: str
    _stack: list[Activity] = field(factory=list)

    @asynccontextmanager
    async def during(self, activity: Activity) -> AsyncIterator[None]:
        self._stack.append(activity)
        await self._show(activity)
        try:
            yield
        finally:
            self._stack.pop()
            with trio.move_on_after(1, shield=True):  # clear the indicator even when cancelled
                await self._show(self._stack[-1] if self._stack else None)

    async def show(self, activity: Activity) -> None:
        """Switch the current step's activity (used by media processors)."""
        if self._stack:
            self._stack[-1] = activity
        await self._show(activity)

    async def _show(self, activity: Activity | None) -> None:
        try:
            await self.channel.set_activity(self.chat_id, activity)
        except Exception:  # a status indicator never fails a turn
            log.warning("channel could not show activity %s", activity, exc_info=True)
