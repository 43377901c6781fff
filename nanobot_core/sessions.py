"""The session store: conversations and per-chat settings in one SQLite file.

Every SQLite call runs in a worker thread, so the trio loop never waits on disk.
Writes go through one connection behind a ``trio.Lock``, with group commit: turns
that arrive while a commit is in progress share the next transaction, each in its
own savepoint. Reads use a small pool of their own connections, which WAL lets run
while a write is in progress. A turn is stored whole or not at all, durably
(``synchronous = FULL``) before ``append_turn`` returns.

Only text is stored: an image becomes ``[image: <description>]``, never bytes or
base64. ``docs/limits.md`` describes the schema and the path to a shared store.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar, cast

import trio

from .errors import NanobotError
from .messages import ChatMessage, Role, TextPart, ToolCall

log = logging.getLogger(__name__)

FILE_NAME = "sessions.sqlite3"
SCHEMA_VERSION = 1
READERS = 4
BUSY_TIMEOUT_MS = 5000

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation TEXT NOT NULL,
        role TEXT NOT NULL,
        text TEXT NOT NULL,
        tool_calls TEXT,
        tool_call_id TEXT,
        extra TEXT,
        created REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages (conversation, id)",
    """CREATE TABLE IF NOT EXISTS settings (
        conversation TEXT NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (conversation, key)
    ) WITHOUT ROWID""",
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)

T = TypeVar("T")
Row = tuple[str, str, str | None, str | None, str | None]


class SessionStore:
    """Conversations (message history) and per-chat settings, kept in SQLite.

    Open with ``await SessionStore.open(directory)`` and close with ``aclose()``,
    or ``async with await SessionStore.open(directory) as store:``.
    """

    def __init__(self, path: Path, writer: sqlite3.Connection) -> None:
        self.path = path
        self._writer = writer
        self._write_lock = trio.Lock()
        self._pending: list[_Job[Any]] = []
        self._readers: list[sqlite3.Connection] = []
        self._reader_slots = trio.CapacityLimiter(READERS)
        self._closed = False

    @classmethod
    async def open(cls, directory: Path) -> SessionStore:
        """Open ``directory/sessions.sqlite3``, creating directory, file and schema if needed.

        Raises ``NanobotError`` (one line naming the file) when that fails.
        """

        def connect() -> tuple[Path, sqlite3.Connection]:
            path = Path(directory).expanduser() / FILE_NAME
            path.parent.mkdir(parents=True, exist_ok=True)
            connection = _connect(path)
            try:
                connection.execute("PRAGMA journal_mode = WAL")
                with _transaction(connection):
                    for statement in _SCHEMA:
                        connection.execute(statement)
            except BaseException:
                connection.close()
                raise
            return path, connection

        def open_or_say_why() -> tuple[Path, sqlite3.Connection]:
            try:
                return connect()
            except (sqlite3.Error, OSError) as error:  # a full or read-only disk: one line
                reason = error.strerror if isinstance(error, OSError) and error.strerror else error
                where = Path(directory).expanduser() / FILE_NAME
                raise NanobotError(f"cannot open the session store {where}: {reason}") from None

        return cls(*await trio.to_thread.run_sync(open_or_say_why))

    async def aclose(self) -> None:
        """Wait for a write in progress, then close every connection. Idempotent.

        Shielded: it runs at shutdown, inside a cancelled scope, and is short.
        """
        if self._closed:
            return
        with trio.CancelScope(shield=True):
            async with self._write_lock:
                # marks queued by write_soon are committed; a write whose caller is
                # still waiting is refused ("closed"), never stored behind its back
                batch = [job for job in self._pending if job.quiet]
                self._pending = [job for job in self._pending if not job.quiet]
                if batch:
                    await trio.to_thread.run_sync(_commit, self._writer, batch)
                self._closed = True
                readers, self._readers = self._readers, []
                for connection in (self._writer, *readers):
                    await trio.to_thread.run_sync(connection.close)

    async def __aenter__(self) -> SessionStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- conversations ---------------------------------------------------------------

    async def history(self, conversation: str, limit: int) -> list[ChatMessage]:
        """The last ``limit`` messages of ``conversation``, oldest first.

        A window that would start with tool results whose assistant message fell
        outside it starts after them instead (chat APIs reject orphaned results).
        """
        if limit <= 0:
            return []
        rows = await self.read(
            lambda db: db.execute(
                "SELECT role, text, tool_calls, tool_call_id, extra FROM messages"
                " WHERE conversation = ? ORDER BY id DESC LIMIT ?",
                (conversation, limit),
            ).fetchall()
        )
        messages = [_message(row) for row in reversed(rows)]
        while messages and messages[0].role == "tool":
            del messages[0]
        return messages

    async def append_turn(self, conversation: str, messages: Sequence[ChatMessage]) -> None:
        """Store one turn's messages in one transaction: all of them or none."""
        if messages:
            await self.write(turn_writer(conversation, messages))

    async def reset(self, conversation: str) -> None:
        """Forget the conversation's messages (``/reset``); its settings stay."""
        await self.write(
            lambda db: db.execute("DELETE FROM messages WHERE conversation = ?", (conversation,))
        )

    # --- settings --------------------------------------------------------------------

    async def get_setting(self, conversation: str, key: str) -> str | None:
        """A per-chat setting such as ``voice``, or ``None`` when never set."""
        row = await self.read(
            lambda db: db.execute(
                "SELECT value FROM settings WHERE conversation = ? AND key = ?",
                (conversation, key),
            ).fetchone()
        )
        return None if row is None else cast(str, row[0])

    async def set_setting(self, conversation: str, key: str, value: str | None) -> None:
        """Set a per-chat setting; ``None`` removes it."""
        if value is None:
            await self.write(
                lambda db: db.execute(
                    "DELETE FROM settings WHERE conversation = ? AND key = ?", (conversation, key)
                )
            )
        else:
            await self.write(
                lambda db: db.execute(
                    "INSERT INTO settings (conversation, key, value) VALUES (?, ?, ?)"
                    " ON CONFLICT (conversation, key) DO UPDATE SET value = excluded.value",
                    (conversation, key, value),
                )
            )

    # --- threads ---------------------------------------------------------------------

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in a transaction and return its result once it is committed.

        Other stores kept in the same file (the inbox) write through here, so their
        rows share the group commit with the turns.

        Group commit: writes that queue up while another batch is being committed
        go together into the next transaction, one savepoint each, so one fsync
        serves them all while each stays all-or-nothing. A caller cancelled while
        its write sits in a batch another task is committing gets ``Cancelled``,
        and the write may still be committed (whole).
        """
        self._check_open()
        job: _Job[T] = _Job(work)
        self._pending.append(job)
        try:
            async with self._write_lock:
                self._check_open()
                if not job.done:
                    batch, self._pending = self._pending, []
                    # not abandoned on cancel: the batch commits or rolls back in its thread
                    await trio.to_thread.run_sync(_commit, self._writer, batch)
        except BaseException:
            if job in self._pending:  # cancelled before its batch started: never written
                self._pending.remove(job)
            raise
        if job.error is not None:
            raise job.error
        return cast(T, job.result)

    def write_soon(self, work: Callable[[sqlite3.Connection], object]) -> None:
        """Queue ``work`` for the next commit without waiting for it (``flush`` forces one).

        For marks whose loss in a crash costs little (a reply marked sent): they
        ride along with the next batch instead of paying an fsync of their own.
        ``aclose`` commits what is still queued.
        """
        self._check_open()
        self._pending.append(_Job(work, quiet=True))

    async def flush(self) -> None:
        """Commit what ``write_soon`` queued, if anything."""
        if any(job.quiet for job in self._pending):
            await self.write(_nothing)

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` on a reader connection (WAL: it never waits for a write)."""
        async with self._reader_slots:
            self._check_open()
            if self._readers:
                db = self._readers.pop()
            else:
                db = await trio.to_thread.run_sync(_connect, self.path)
            try:
                return await trio.to_thread.run_sync(work, db)
            finally:
                if self._closed:
                    with trio.CancelScope(shield=True):
                        await trio.to_thread.run_sync(db.close)
                else:
                    self._readers.append(db)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the session store is closed")


class _Job(Generic[T]):
    """One write waiting for its batch: done once committed (or failed with ``error``)."""

    __slots__ = ("done", "error", "quiet", "result", "work")

    def __init__(self, work: Callable[[sqlite3.Connection], T], *, quiet: bool = False) -> None:
        self.work = work
        self.quiet = quiet  # nobody waits for it: its error is logged
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None


def _commit(connection: sqlite3.Connection, batch: list[_Job[Any]]) -> None:
    """One transaction for the batch; a job that fails is rolled back to its savepoint."""
    try:
        with _transaction(connection):
            for job in batch:
                connection.execute("SAVEPOINT job")
                try:
                    job.result = job.work(connection)
                except Exception as error:
                    if not connection.in_transaction:  # its error ended the whole batch
                        raise _BatchLost(error) from error
                    connection.execute("ROLLBACK TO job")
                    job.error = error
                connection.execute("RELEASE job")
    except Exception as error:  # the commit itself failed: nothing of the batch is stored
        cause = error.cause if isinstance(error, _BatchLost) else error
        for job in batch:
            job.error = job.error or cause
    finally:
        for job in batch:
            job.done = True
            if job.quiet and job.error is not None:
                log.warning("could not store a mark: %s", job.error)


class _BatchLost(Exception):
    """A job's error rolled back the whole transaction (a ``RAISE(ROLLBACK)`` trigger)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _nothing(connection: sqlite3.Connection) -> None:
    return None


class _transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, or ``ROLLBACK`` on any error."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __enter__(self) -> None:
        self.connection.execute("BEGIN IMMEDIATE")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            try:
                self.connection.execute("COMMIT")
            except BaseException:  # a full disk fails the COMMIT: leave no open transaction
                if self.connection.in_transaction:
                    self.connection.execute("ROLLBACK")
                raise
        elif self.connection.in_transaction:
            self.connection.execute("ROLLBACK")


def turn_writer(
    conversation: str, messages: Sequence[ChatMessage]
) -> Callable[[sqlite3.Connection], None]:
    """The work of storing one turn, for ``SessionStore.write`` (alone or with an inbox row)."""
    created = time.time()
    rows = [(conversation, *_row(message), created) for message in messages]

    def insert(db: sqlite3.Connection) -> None:
        db.executemany(
            "INSERT INTO messages (conversation, role, text, tool_calls, tool_call_id,"
            " extra, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    return insert


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
    )
    try:
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    except BaseException:  # not a database: no handle left open while the error lives
        connection.close()
        raise
    return connection


# --- rows --------------------------------------------------------------------------


def _row(message: ChatMessage) -> tuple[str, str, str | None, str | None, str | None]:
    text = "\n".join(
        part.text if isinstance(part, TextPart) else f"[image: {part.description}]"
        for part in message.content
    )
    tool_calls = (
        json.dumps(
            [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in message.tool_calls]
        )
        if message.tool_calls
        else None
    )
    extra = json.dumps(dict(message.extra), default=str) if message.extra else None
    return message.role, text, tool_calls, message.tool_call_id, extra


def _message(row: Row) -> ChatMessage:
    role, text, tool_calls, tool_call_id, extra = row
    calls: list[dict[str, Any]] = json.loads(tool_calls) if tool_calls else []
    return ChatMessage.of(
        cast(Role, role),
        text,
        tool_calls=tuple(ToolCall(c["id"], c["name"], c["arguments"]) for c in calls),
        tool_call_id=tool_call_id,
        extra=json.loads(extra) if extra else {},
    )


__all__ = ["FILE_NAME", "SessionStore", "turn_writer"]
