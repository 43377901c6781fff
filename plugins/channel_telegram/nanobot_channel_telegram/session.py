"""The bot's telethon session (server address and auth key), kept as a private file.

telethon's own SQLite session commits block the loop; this store keeps a
``StringSession`` string and reads and writes it through trio's threads.
"""

from __future__ import annotations

import os
from pathlib import Path

import trio


def session_path(storage: Path, bot_token: str) -> Path:
    """One file per bot, named by the bot id the token starts with: a saved session
    stays logged in as its bot, so a new token must not pick up the old bot's session."""
    bot_id = bot_token.partition(":")[0]
    return storage / f"telegram-{bot_id if bot_id.isdigit() else 'bot'}.session"


class SessionStore:
    """One file holding the session string; written atomically, readable by the owner only."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def load(self) -> str:
        try:
            return (await trio.Path(self.path).read_text(encoding="ascii")).strip()
        except FileNotFoundError:
            return ""

    async def save(self, session: str) -> None:
        if session:
            await trio.to_thread.run_sync(_write_private, self.path, session)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(text)
    os.replace(temporary, path)


class MemoryStore(SessionStore):
    """A session that lives only as long as the process (``nanobot telegram check``)."""

    def __init__(self) -> None:
        super().__init__(Path("/nonexistent"))
        self.session = ""

    async def load(self) -> str:
        return self.session

    async def save(self, session: str) -> None:
        self.session = session
