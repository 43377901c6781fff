"""The ``console`` channel: the local operator talking to nanobot in a terminal.

``nanobot chat -m TEXT`` runs one turn; without ``-m`` it is a REPL
(``/quit`` or end of input leaves). Replies go to stdout, refusals and failures
to stderr; voice replies are copied into the audio directory and announced
as ``audio: PATH``.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import trio
from attrs import define, field

from ..access import AccessPolicy
from ..hookspecs import hookimpl
from ..messages import Activity, Attachment, Inbound, Outbound, TurnStatus
from ..protocols import Admission, Host
from ..registry import NoConfig, Register
from ..text import for_terminal

NAME = "console"
CHAT_ID = "local"
USER_ID = "operator"
QUIT = ("/quit", "/exit")
REPL_HINT = "(/help lists the commands; /quit or Ctrl+D leaves)"


@define(eq=False)
class ConsoleChannel:
    """A channel on stdin/stdout. ``message`` set: one turn, then the channel finishes."""

    host: Host
    message: str | None = None
    attachments: Sequence[Attachment] = ()
    session: str = ""
    audio_out: Path = field(factory=Path.cwd)
    stdin: IO[str] = field(factory=lambda: sys.stdin)
    stdout: IO[str] = field(factory=lambda: sys.stdout)
    stderr: IO[str] = field(factory=lambda: sys.stderr)
    access: AccessPolicy = field(factory=AccessPolicy.operator)
    statuses: list[TurnStatus] = field(factory=list)
    _replied: trio.Event = field(factory=trio.Event)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        if self.message is not None:
            await self._turn(self.message, tuple(self.attachments))
            return
        if self.attachments:
            self.stderr.write("(attachments go with the first message)\n")
        attachments = tuple(self.attachments)
        if self.stdin.isatty():
            self.stderr.write(f"{REPL_HINT}\n")
        while True:
            line = await self._read_line()
            if line is None or line.strip().lower() in QUIT:
                return
            if not line.strip() and not attachments:
                continue
            await self._turn(line.strip(), attachments)
            attachments = ()

    async def _read_line(self) -> str | None:
        if self.stdin.isatty():
            self.stderr.write("you> ")
            self.stderr.flush()
        line = await trio.to_thread.run_sync(self.stdin.readline, abandon_on_cancel=True)
        return line or None  # "" is end of input

    async def _turn(self, text: str, attachments: tuple[Attachment, ...]) -> None:
        self._replied = trio.Event()
        inbound = Inbound(
            channel=NAME,
            chat_id=CHAT_ID,
            user_id=USER_ID,
            text=text,
            attachments=attachments,
            session=self.session,
        )
        admission = await self.host.submit(inbound)
        if admission is not Admission.ACCEPTED:  # shutting down: no reply will come
            self.stderr.write(f"(not sent: the message was {admission.value})\n")
            self.statuses.append(TurnStatus.FAILED)
            return
        await self._replied.wait()

    async def send(self, outbound: Outbound) -> None:
        try:
            await self._show(outbound)
        finally:  # a reply that could not be shown must not leave the turn waiting
            self._replied.set()

    async def _show(self, outbound: Outbound) -> None:
        self.statuses.append(outbound.status)
        stream = self.stdout if outbound.status is TurnStatus.OK else self.stderr
        _print(stream, for_terminal(outbound.text).rstrip("\n") + "\n")
        if outbound.audio:
            await trio.Path(self.audio_out).mkdir(parents=True, exist_ok=True)
        for index, audio in enumerate(outbound.audio, start=1):
            target = self.audio_out / f"nanobot-reply-{_stamp()}-{index}{audio.path.suffix}"
            await trio.to_thread.run_sync(shutil.copyfile, audio.path, target)
            self.stdout.write(f"audio: {target}\n")
        self.stdout.flush()

    async def set_activity(self, chat_id: str, activity: Activity | None) -> None:
        if not self.stderr.isatty():
            return
        status = f"… {activity.value}" if activity is not None else ""
        self.stderr.write(f"\r\x1b[K{status}")
        self.stderr.flush()


def _print(stream: IO[str], text: str) -> None:
    """Write ``text``; characters the stream's encoding lacks become ``?`` rather than an error."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        stream.write(text)
    except UnicodeEncodeError:
        stream.write(text.encode(encoding, "replace").decode(encoding))


def _stamp() -> str:
    import time

    return time.strftime("%Y%m%d-%H%M%S")


def make_console(config: NoConfig, host: Any) -> ConsoleChannel:
    return ConsoleChannel(host=host)


@hookimpl
def register_channels(register: Register) -> None:
    register(NAME, make_console)
