"""The durable inbox: every accepted message, from ``submit`` until its reply is handed over.

A message is recorded before ``Runtime.submit`` returns ``ACCEPTED``, keyed by
its channel and the platform's message id, so a second delivery of the same
message (a platform retrying, a catch-up after a restart) is recognised and
answered once. An entry goes ``accepted`` → ``answered`` (its turn and reply
text committed together, in one transaction with the session store's rows) →
``done`` (the reply was handed to the channel). At start-up the entries not
``done`` are run again, re-sent, or apologised for (see ``Runtime``).

``Inbox`` is the seam: ``SqliteInbox`` keeps its table in the session store's
SQLite file and writes through its group commit; a shared queue (Redis streams)
can replace it for several processes.
"""

from __future__ import annotations

import enum
import sqlite3
import time
from collections.abc import Collection, Sequence
from typing import Protocol

from attrs import frozen

from .messages import ChatMessage, Inbound, Outbound, TurnStatus
from .sessions import SessionStore, turn_writer

KEEP_DONE = 7 * 24 * 3600.0
"""Seconds a finished entry is remembered, to recognise a late second delivery."""

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS inbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        channel TEXT NOT NULL,
        message_id TEXT,
        chat_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        session TEXT NOT NULL,
        text TEXT NOT NULL,
        attachments INTEGER NOT NULL,
        accepted REAL NOT NULL,
        state TEXT NOT NULL,
        reply TEXT,
        status TEXT,
        UNIQUE (channel, chat_id, message_id)  -- ids are per chat on Telegram
    )""",
    "CREATE INDEX IF NOT EXISTS inbox_unfinished ON inbox (id) WHERE state != 'done'",
)


class State(enum.StrEnum):
    ACCEPTED = "accepted"  # recorded; no reply yet
    ANSWERED = "answered"  # its turn and reply are stored; the reply may not have been shown
    DONE = "done"  # the reply was handed to the channel


@frozen
class Ticket:
    """An accepted message's entry in the inbox."""

    id: int


@frozen
class Unfinished:
    """An entry left from before a restart: accepted, perhaps answered, not done.

    ``inbound`` has no attachments: their files were the channel's to fetch
    during the turn and are not kept; ``attachments`` says how many there were.
    """

    ticket: Ticket
    inbound: Inbound
    accepted: float
    """When it was accepted (seconds since the epoch)."""
    attachments: int
    reply: Outbound | None
    """The reply stored with its turn (``answered``); ``None`` when it was never answered."""


class Inbox(Protocol):
    """Where accepted messages wait for their replies, across restarts."""

    async def accept(self, inbound: Inbound) -> Ticket | None:
        """Record the message durably; ``None`` when it was recorded before (a duplicate)."""
        ...

    async def answered(
        self, ticket: Ticket | None, reply: Outbound, turn: tuple[str, Sequence[ChatMessage]]
    ) -> None:
        """Store the turn's messages and the reply, together (all or nothing)."""
        ...

    async def delivered(self, ticket: Ticket) -> None:
        """The reply was handed to the channel: the entry is done (durable by ``flush``)."""
        ...

    async def flush(self) -> None:
        """Make the ``delivered`` marks so far durable."""
        ...

    async def unfinished(self, channels: Collection[str]) -> list[Unfinished]:
        """The entries of these channels not done, oldest first."""
        ...


class SqliteInbox:
    """The inbox as a table in the session store's file, written through its group commit."""

    def __init__(self, store: SessionStore) -> None:
        self._store = store

    @classmethod
    async def open(cls, store: SessionStore, *, now: float | None = None) -> SqliteInbox:
        """Create the table if needed and forget entries done more than ``KEEP_DONE`` ago."""
        cutoff = (time.time() if now is None else now) - KEEP_DONE

        def prepare(db: sqlite3.Connection) -> None:
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute("DELETE FROM inbox WHERE state = 'done' AND accepted < ?", (cutoff,))

        await store.write(prepare)
        return cls(store)

    async def accept(self, inbound: Inbound) -> Ticket | None:
        row = (
            inbound.channel,
            inbound.message_id,
            inbound.chat_id,
            inbound.user_id,
            inbound.session,
            inbound.text,
            len(inbound.attachments),
            time.time(),
            State.ACCEPTED.value,
        )

        def insert(db: sqlite3.Connection) -> int | None:
            cursor = db.execute(
                "INSERT INTO inbox (channel, message_id, chat_id, user_id, session, text,"
                " attachments, accepted, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (channel, chat_id, message_id) DO NOTHING",
                row,
            )
            return cursor.lastrowid if cursor.rowcount == 1 else None

        entry = await self._store.write(insert)
        return None if entry is None else Ticket(entry)

    async def answered(
        self, ticket: Ticket | None, reply: Outbound, turn: tuple[str, Sequence[ChatMessage]]
    ) -> None:
        conversation, messages = turn
        store_turn = turn_writer(conversation, messages) if messages else None

        def write(db: sqlite3.Connection) -> None:
            if store_turn is not None:
                store_turn(db)
            if ticket is not None:
                db.execute(
                    "UPDATE inbox SET state = ?, reply = ?, status = ? WHERE id = ?",
                    (State.ANSWERED.value, reply.text, reply.status.value, ticket.id),
                )

        if store_turn is not None or ticket is not None:
            await self._store.write(write)

    async def delivered(self, ticket: Ticket) -> None:
        """Queued for the next commit (at most ``flush`` later): a mark lost in a crash
        only means the reply is sent once more after the restart."""
        self._store.write_soon(
            lambda db: db.execute(
                "UPDATE inbox SET state = ?, reply = NULL WHERE id = ?",
                (State.DONE.value, ticket.id),
            )
        )

    async def flush(self) -> None:
        """Commit the marks ``delivered`` queued."""
        await self._store.flush()

    async def unfinished(self, channels: Collection[str]) -> list[Unfinished]:
        names = sorted(channels)
        if not names:
            return []
        marks = ", ".join("?" * len(names))
        rows = await self._store.read(
            lambda db: db.execute(
                "SELECT id, channel, message_id, chat_id, user_id, session, text, attachments,"
                f" accepted, state, reply, status FROM inbox WHERE state != 'done'"
                f" AND channel IN ({marks}) ORDER BY id",
                names,
            ).fetchall()
        )
        return [_unfinished(row) for row in rows]


def _unfinished(row: tuple[object, ...]) -> Unfinished:
    (entry, channel, message_id, chat_id, user_id, session, text, attachments, accepted,
     state, reply, status) = row  # fmt: skip
    inbound = Inbound(
        channel=str(channel),
        chat_id=str(chat_id),
        user_id=str(user_id),
        text=str(text),
        message_id=None if message_id is None else str(message_id),
        session=str(session),
    )
    outbound = None
    if state == State.ANSWERED and reply is not None:
        outbound = Outbound(
            channel=inbound.channel,
            chat_id=inbound.chat_id,
            text=str(reply),
            reply_to=inbound.message_id,
            status=TurnStatus(str(status)),
        )
    return Unfinished(
        ticket=Ticket(int(str(entry))),
        inbound=inbound,
        accepted=float(str(accepted)),
        attachments=int(str(attachments)),
        reply=outbound,
    )


__all__ = ["KEEP_DONE", "Inbox", "SqliteInbox", "Ticket", "Unfinished"]
