"""The bot's telethon session (server address and auth key) and its update state, in one
private file.

telethon's own SQLite session commits block the loop; this store keeps a
``StringSession`` string and reads and writes it through trio's threads. Beside
it goes the update state (pts, qts, date, seq and each channel's pts) that lets
the next start ask Telegram for what arrived while the bot was down. The file is
JSON; a file holding only the session string (0.1) is read as before.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import trio
from attrs import asdict, field, frozen


def session_path(storage: Path, bot_token: str) -> Path:
    """One file per bot, named by the bot id the token starts with: a saved session
    stays logged in as its bot, so a new token must not pick up the old bot's session."""
    bot_id = bot_token.partition(":")[0]
    return storage / f"telegram-{bot_id if bot_id.isdigit() else 'bot'}.session"


@frozen
class UpdateState:
    """Where the bot's update sequence stood (telethon's ``SessionState`` and channel pts)."""

    pts: int
    qts: int
    date: int
    """Seconds since the epoch."""
    seq: int
    channels: dict[int, int] = field(factory=dict)
    """Each channel's (supergroup's) own pts, by channel id."""

    @classmethod
    def from_json(cls, raw: Any) -> UpdateState | None:
        try:
            return cls(
                pts=int(raw["pts"]), qts=int(raw["qts"]), date=int(raw["date"]),
                seq=int(raw["seq"]),
                channels={int(k): int(v) for k, v in dict(raw.get("channels", {})).items()},
            )  # fmt: skip
        except (KeyError, TypeError, ValueError, AttributeError):
            return None  # a damaged state: start without catching up, as 0.1 did


class SessionStore:
    """One file holding the session and the update state; written atomically, owner only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._session = ""
        self._state: UpdateState | None = None
        self._writing = trio.Lock()  # one writer of the temporary file at a time

    async def load(self) -> str:
        """The session string ('' for none); the update state is read with it."""
        try:
            text = (await trio.Path(self.path).read_text(encoding="ascii")).strip()
        except FileNotFoundError:
            return ""
        self._session, self._state = _parse(text)
        return self._session

    @property
    def update_state(self) -> UpdateState | None:
        """The update state read by ``load`` or last saved; ``None`` when there is none."""
        return self._state

    def keep(self, state: UpdateState) -> None:
        """Hold ``state`` to be written with the next ``save``."""
        self._state = state

    async def save(self, session: str, state: UpdateState | None = None) -> None:
        """Write the session, and ``state`` when given (else the one kept so far)."""
        if session:
            self._session = session
        if state is not None:
            self._state = state
        if self._session:
            async with self._writing:
                await trio.to_thread.run_sync(_write_private, self.path, self._render())

    def _render(self) -> str:
        data: dict[str, Any] = {"session": self._session}
        if self._state is not None:
            data["updates"] = asdict(self._state)
        return json.dumps(data)


def _parse(text: str) -> tuple[str, UpdateState | None]:
    if not text.startswith("{"):
        return text, None  # 0.1: the session string alone
    try:
        data = json.loads(text)
    except ValueError:
        return "", None
    if not isinstance(data, dict):
        return "", None
    state = UpdateState.from_json(data["updates"]) if "updates" in data else None
    return str(data.get("session", "")), state


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


class MemoryStore(SessionStore):
    """A session that lives only as long as the process (``nanobot telegram check``)."""

    def __init__(self) -> None:
        super().__init__(Path("/nonexistent"))
        self.session = ""

    async def load(self) -> str:
        return self.session

    async def save(self, session: str, state: UpdateState | None = None) -> None:
        self.session = session or self.session
