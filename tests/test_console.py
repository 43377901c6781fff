"""The console channel: status line on a terminal only, audio written out, statuses kept."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import trio

from nanobot_core import Activity, Admission, AudioFile, Outbound, TurnStatus
from nanobot_core.builtins.console import ConsoleChannel


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def console(tmp_path: Path, stderr: io.StringIO) -> ConsoleChannel:
    return ConsoleChannel(
        host=None,  # type: ignore[arg-type]  # send/set_activity never touch the host
        audio_out=tmp_path / "audio",
        stdout=io.StringIO(),
        stderr=stderr,
    )


async def test_status_line_only_on_a_terminal(tmp_path: Path) -> None:
    terminal, pipe = Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        channel = console(tmp_path, stream)
        await channel.set_activity("local", Activity.TYPING)
        await channel.set_activity("local", None)
    assert terminal.getvalue() == "\r\x1b[K… typing\r\x1b[K"
    assert pipe.getvalue() == ""


async def test_replies_and_audio(tmp_path: Path) -> None:
    channel = console(tmp_path, io.StringIO())
    segment = tmp_path / "voice.ogg"
    await trio.Path(segment).write_bytes(b"OggS audio")
    outbound = Outbound(
        channel="console", chat_id="local", text="hello", audio=(AudioFile(path=segment),)
    )
    await channel.send(outbound)
    await channel.send(
        Outbound(channel="console", chat_id="local", text="slow down", status=TurnStatus.REFUSED)
    )
    stdout = channel.stdout.getvalue().splitlines()
    assert stdout[0] == "hello"
    written = Path(stdout[1].removeprefix("audio: "))
    assert written.parent == tmp_path / "audio"
    assert await trio.Path(written).read_bytes() == b"OggS audio"
    assert channel.stderr.getvalue() == "slow down\n"
    assert channel.statuses == [TurnStatus.OK, TurnStatus.REFUSED]


class ClosedHost:
    async def submit(self, inbound: object) -> Admission:
        return Admission.CLOSED


async def test_a_message_the_runtime_does_not_take_is_not_waited_for(tmp_path: Path) -> None:
    channel = ConsoleChannel(
        host=ClosedHost(),  # type: ignore[arg-type]
        message="hello",
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    with trio.fail_after(5):
        await channel.run()
    assert channel.statuses == [TurnStatus.FAILED]
    assert channel.stderr.getvalue() == "(not sent: the message was closed)\n"


async def test_terminal_control_sequences_are_not_printed(tmp_path: Path) -> None:
    channel = console(tmp_path, io.StringIO())
    text = "\x1b[2Jcleared\x1b]0;owned\x07 \x1b[31mred\x1b[0m\r\nnext"
    await channel.send(Outbound(channel="console", chat_id="local", text=text))
    error = "server said: \x1b]2;title\x1b\\\x1b[1Abad"
    await channel.send(
        Outbound(channel="console", chat_id="local", text=error, status=TurnStatus.FAILED)
    )
    assert channel.stdout.getvalue() == "cleared red\nnext\n"
    assert channel.stderr.getvalue() == "server said: bad\n"


async def test_text_the_terminal_cannot_encode_never_raises(tmp_path: Path) -> None:
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="ascii")
    channel = ConsoleChannel(host=None, stdout=stdout, stderr=io.StringIO())  # type: ignore[arg-type]
    await channel.send(Outbound(channel="console", chat_id="local", text="hi \ud800 thére"))
    stdout.flush()
    assert raw.getvalue() == b"hi ? th?re\n"
    assert channel.statuses == [TurnStatus.OK]


class AcceptingHost:
    async def submit(self, inbound: object) -> Admission:
        return Admission.ACCEPTED


async def test_a_reply_that_fails_to_show_does_not_leave_chat_waiting(tmp_path: Path) -> None:
    blocker = tmp_path / "audio"
    blocker.write_text("a file where the audio directory should be")
    segment = tmp_path / "voice.ogg"
    segment.write_bytes(b"OggS")
    channel = ConsoleChannel(
        host=AcceptingHost(),  # type: ignore[arg-type]
        message="hello",
        audio_out=blocker,
        stdout=io.StringIO(),
        stderr=io.StringIO(),
    )
    reply = Outbound(channel="console", chat_id="local", text="hi", audio=(AudioFile(segment),))

    async def fail_to_send() -> None:
        await trio.sleep(0.1)
        with contextlib.suppress(OSError):  # the runtime logs it; the console must still finish
            await channel.send(reply)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fail_to_send)
            await channel.run()
    assert channel.stdout.getvalue() == "hi\n"
