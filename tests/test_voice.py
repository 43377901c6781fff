"""The voice policy: when a reply also goes out as voice, and the note when it cannot."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from nanobot_core import (
    Attachment,
    AttachmentKind,
    AudioFile,
    Inbound,
    ProviderUnavailable,
    SpeechError,
    TurnRefused,
)
from nanobot_core.testing import Harness, ScriptedChatModel, objects_plugin
from nanobot_core.voice import VoiceResult, synthesize, wants_voice


async def _never_fetched(workdir: Path) -> Path:  # pragma: no cover - policy only
    raise AssertionError("the voice policy must not fetch attachments")


def inbound(*kinds: AttachmentKind) -> Inbound:
    attachments = tuple(Attachment(kind=kind, fetch=_never_fetched) for kind in kinds)
    return Inbound(channel="test", chat_id="c", user_id="u", text="hi", attachments=attachments)


TEXT = inbound()
VOICE_NOTE = inbound(AttachmentKind.VOICE)

# --- wants_voice -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["off", "inbound", "always"])
@pytest.mark.parametrize("message", [TEXT, VOICE_NOTE])
def test_voice_on_for_the_chat_always_speaks(mode: str, message: Inbound) -> None:
    assert wants_voice(mode, "on", message) is True


@pytest.mark.parametrize("mode", ["off", "inbound", "always"])
@pytest.mark.parametrize("message", [TEXT, VOICE_NOTE])
def test_voice_off_for_the_chat_never_speaks(mode: str, message: Inbound) -> None:
    # /voice off wins over reply = "always" and over an incoming voice note
    assert wants_voice(mode, "off", message) is False


def test_reply_always_speaks_to_text_and_voice() -> None:
    assert wants_voice("always", None, TEXT) is True
    assert wants_voice("always", None, VOICE_NOTE) is True


def test_reply_off_never_speaks() -> None:
    assert wants_voice("off", None, TEXT) is False
    assert wants_voice("off", None, VOICE_NOTE) is False


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        ((), False),
        ((AttachmentKind.VOICE,), True),
        ((AttachmentKind.AUDIO,), False),  # a music file is not a voice note
        ((AttachmentKind.VIDEO_NOTE,), False),
        ((AttachmentKind.IMAGE, AttachmentKind.DOCUMENT), False),
        ((AttachmentKind.IMAGE, AttachmentKind.VOICE), True),  # any voice note counts
        ((AttachmentKind.VOICE, AttachmentKind.IMAGE), True),
    ],
)
def test_reply_inbound_answers_voice_with_voice(
    kinds: tuple[AttachmentKind, ...], expected: bool
) -> None:
    assert wants_voice("inbound", None, inbound(*kinds)) is expected


# --- synthesize ------------------------------------------------------------------------


@attrs.define(eq=False)
class Synthesizer:
    fail: BaseException | None = None
    segments: int = 1
    texts: list[str] = attrs.field(factory=list)

    async def synthesize(self, text: str, workdir: Path) -> Any:
        self.texts.append(text)
        if self.fail is not None:
            raise self.fail
        paths = [workdir / f"part{i}.ogg" for i in range(self.segments)]
        for path in paths:
            await trio.Path(path).write_bytes(b"OggS")
        return [AudioFile(path=path) for path in paths]  # a list: the result is a tuple


async def test_no_synthesizer_is_a_note_not_an_error(tmp_path: Path) -> None:
    result = await synthesize(None, "hello", tmp_path)
    assert result == VoiceResult(note="no voice reply: no speech synthesizer is configured.")
    assert result.audio == ()


async def test_audio_comes_back_in_order_without_a_note(tmp_path: Path) -> None:
    synthesizer = Synthesizer(segments=3)
    result = await synthesize(synthesizer, "a long answer", tmp_path)
    assert result.note is None
    assert result.audio == tuple(AudioFile(path=tmp_path / f"part{i}.ogg") for i in range(3))
    assert synthesizer.texts == ["a long answer"]


@pytest.mark.parametrize(
    "error",
    [
        SpeechError("the reply is too long for a voice note"),
        TurnRefused("I can't record more voice replies right now", retry_after=5),
    ],
)
async def test_an_expected_refusal_is_the_note_and_an_info_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, error: Exception
) -> None:
    caplog.set_level(logging.DEBUG)
    result = await synthesize(Synthesizer(fail=error), "hello", tmp_path)
    assert result == VoiceResult(note=f"no voice reply: {error}")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, f"no voice reply: {error}")
    ]
    assert caplog.records[0].name == "nanobot_core.voice"


async def test_a_provider_failure_is_the_note_and_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    error = ProviderUnavailable("the speech service is unavailable")
    result = await synthesize(Synthesizer(fail=error), "hello", tmp_path)
    assert result == VoiceResult(note="no voice reply: the speech service is unavailable")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "speech synthesis failed: the speech service is unavailable")
    ]


async def test_a_crashing_synthesizer_is_logged_with_its_traceback_not_shown(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = await synthesize(Synthesizer(fail=KeyError("internal detail")), "hi", tmp_path)
    assert result == VoiceResult(note="no voice reply: the speech synthesizer failed.")
    [record] = caplog.records
    assert (record.levelno, record.getMessage()) == (logging.ERROR, "speech synthesizer crashed")
    assert record.exc_info is not None and isinstance(record.exc_info[1], KeyError)


async def test_cancellation_is_not_turned_into_a_note(tmp_path: Path) -> None:
    class Slow:
        async def synthesize(self, text: str, workdir: Path) -> Any:
            await trio.sleep_forever()

    with trio.move_on_after(0.01) as scope:
        await synthesize(Slow(), "hi", tmp_path)
        pytest.fail("synthesize returned after being cancelled")  # pragma: no cover
    assert scope.cancelled_caught


# --- in a chat -------------------------------------------------------------------------


@attrs.define(eq=False)
class Transcriber:
    async def transcribe(self, audio: Path, *, language: str | None = None) -> str:
        return "spoken words"


def voice_bot(reply: str, synthesizer: Synthesizer) -> tuple[dict[str, Any], object]:
    config = {
        "agent": {"model": "scripted/m"},
        "voice": {"reply": reply, "transcriber": "fake", "synthesizer": "fake"},
    }
    plugin = objects_plugin(
        chat_models=[("scripted", ScriptedChatModel())],
        transcribers=[("fake", Transcriber())],
        speech_synthesizers=[("fake", synthesizer)],
    )
    return config, plugin


async def test_voice_off_in_a_chat_overrides_reply_always(storage: Path) -> None:
    synthesizer = Synthesizer()
    config, plugin = voice_bot("always", synthesizer)
    async with Harness.start(config, plugins=[plugin], storage=storage) as bot:
        assert len((await bot.say("a")).audio) == 1
        assert (await bot.say("/voice off")).text == "Voice replies are off."
        reply = await bot.say("b")
        assert reply.audio == () and reply.text == "scripted: b"
        assert len((await bot.say("c", chat_id="other")).audio) == 1  # only that chat
    assert synthesizer.texts == ["scripted: a", "scripted: c"]


async def test_voice_off_in_a_chat_overrides_an_incoming_voice_note(
    storage: Path, tmp_path: Path
) -> None:
    note = tmp_path / "note.ogg"
    note.write_bytes(b"OggS")
    synthesizer = Synthesizer()
    config, plugin = voice_bot("inbound", synthesizer)
    voice_note = Attachment.from_path(note, AttachmentKind.VOICE)
    async with Harness.start(config, plugins=[plugin], storage=storage) as bot:
        assert len((await bot.say("", attachments=[voice_note])).audio) == 1
        assert (await bot.say("typed")).audio == ()
        await bot.say("/voice off")
        reply = await bot.say("", attachments=[voice_note])
    assert reply.audio == ()
    assert reply.text.endswith("spoken words")
    assert len(synthesizer.texts) == 1
