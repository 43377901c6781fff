"""A turn opens no network connection of its own: no telemetry, no tokenizer downloads."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from nanobot_core import Attachment, AttachmentKind
from nanobot_core.testing import Harness


async def test_a_turn_with_media_makes_no_connection(
    storage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[Any] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
        real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    image = tmp_path / "x.gif"
    image.write_bytes(b"GIF89a" + b"\x00" * 20)
    async with Harness.start({}, storage=storage) as bot:
        await bot.say("hello")
        await bot.say("look", attachments=[Attachment.from_path(image, AttachmentKind.IMAGE)])
        await bot.say("/reset")
    assert attempts == []
