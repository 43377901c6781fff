"""The turn pipeline: history and /reset, limits, media branches, voice policy, failures."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import attrs
import pytest
import trio

from nanobot_core import (
    Activity,
    Attachment,
    AttachmentKind,
    AudioFile,
    ImagePart,
    MediaError,
    ProviderTimeout,
    SpeechError,
    TextPart,
)
from nanobot_core.testing import Harness, ScriptedChatModel, objects_plugin
from nanobot_core.turn import INTERRUPTED


def png(width: int = 2, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def file_attachment(path: Path, kind: AttachmentKind) -> Attachment:
    return Attachment.from_path(path, kind)


@attrs.define(eq=False)
class FakeTranscriber:
    text: str = "hello from the voice note"
    paths: list[Path] = attrs.field(factory=list)

    async def transcribe(self, audio: Path, *, language: str | None = None) -> str:
        self.paths.append(audio)
        assert await trio.Path(audio).exists()
        return self.text


@attrs.define(eq=False)
class FakeSynthesizer:
    fail: BaseException | None = None
    texts: list[str] = attrs.field(factory=list)

    async def synthesize(self, text: str, workdir: Path) -> tuple[AudioFile, ...]:
        self.texts.append(text)
        if self.fail is not None:
            raise self.fail
        path = workdir / "reply.ogg"
        await trio.Path(path).write_bytes(b"OggS fake")
        return (AudioFile(path=path, duration=1.5),)


def with_voice(reply: str = "inbound", **limits: str) -> dict[str, Any]:
    return {
        "agent": {"model": "scripted/m"},
        "voice": {"reply": reply, "transcriber": "fake", "synthesizer": "fake"},
        "limits": limits,
    }


def voice_plugin(model: Any, transcriber: Any = None, synthesizer: Any = None) -> object:
    return objects_plugin(
        chat_models=[("scripted", model)],
        transcribers=[("fake", transcriber or FakeTranscriber())],
        speech_synthesizers=[("fake", synthesizer or FakeSynthesizer())],
    )


async def test_history_across_turns_and_reset(storage: Path) -> None:
    model = ScriptedChatModel()
    plugin = objects_plugin(chat_models=[("scripted", model)])
    async with Harness.start(
        {"agent": {"model": "scripted/m"}}, plugins=[plugin], storage=storage
    ) as bot:
        await bot.say("first")
        await bot.say("second")
        texts = [m.text for m in model.requests[-1].messages]
        assert texts[1:] == ["first", "scripted: first", "second"]
        assert (await bot.say("/reset")).text.startswith("Conversation cleared")
        await bot.say("third")
        assert [m.text for m in model.requests[-1].messages][1:] == ["third"]
        await bot.say("other chat", chat_id="elsewhere")
        assert [m.text for m in model.requests[-1].messages][1:] == ["other chat"]


async def test_history_window(storage: Path) -> None:
    model = ScriptedChatModel()
    plugin = objects_plugin(chat_models=[("scripted", model)])
    config = {"agent": {"model": "scripted/m", "history_messages": 2}}
    async with Harness.start(config, plugins=[plugin], storage=storage) as bot:
        for text in ("a", "b", "c"):
            await bot.say(text)
    assert [m.text for m in model.requests[-1].messages][1:] == ["b", "scripted: b", "c"]


async def test_turn_limit_refuses_with_when_to_retry(storage: Path) -> None:
    config = {"limits": {"turn": "2/hour"}}
    async with Harness.start(config, storage=storage) as bot:
        assert (await bot.say("1")).status == "ok"
        assert (await bot.say("2")).status == "ok"
        refused = await bot.say("3")
        assert refused.status == "refused"
        assert "try again in" in refused.text
        assert "try again in 30 minutes" in refused.text
        assert (await bot.say("4", user_id="someone else")).status == "ok"
        assert (await bot.say("/help")).status == "ok"  # commands are never limited


async def test_admins_are_exempt_from_limits(storage: Path) -> None:
    from nanobot_core import AccessPolicy

    access = AccessPolicy(allow_from=["u"], admins=["boss"])
    async with Harness.start({"limits": {"turn": "1/hour"}}, storage=storage, access=access) as bot:
        assert (await bot.say("1", user_id="u")).status == "ok"
        assert (await bot.say("2", user_id="u")).status == "refused"
        for i in range(5):
            assert (await bot.say(str(i), user_id="boss")).status == "ok"


async def test_image_becomes_an_image_part(storage: Path, tmp_path: Path) -> None:
    image = tmp_path / "dot.png"
    image.write_bytes(png())
    model = ScriptedChatModel(["I see a red dot."])
    plugin = objects_plugin(chat_models=[("scripted", model)])
    async with Harness.start(
        {"agent": {"model": "scripted/m"}}, plugins=[plugin], storage=storage
    ) as bot:
        reply = await bot.say(
            "what is this?", attachments=[file_attachment(image, AttachmentKind.IMAGE)]
        )
        assert reply.text == "I see a red dot."
        parts = model.requests[0].messages[-1].content
        assert parts[0] == TextPart("what is this?")
        # re-encoded: an opaque picture goes out as JPEG, metadata-free
        assert isinstance(parts[1], ImagePart) and parts[1].mime_type == "image/jpeg"
        assert parts[1].data.startswith(b"\xff\xd8\xff")
        # history keeps a description, never the bytes
        await bot.say("and now?")
        earlier = model.requests[1].messages[1]
        assert all(isinstance(p, TextPart) for p in earlier.content)
        assert "dot.png" in earlier.text


async def test_echo_counts_images(storage: Path, tmp_path: Path) -> None:
    image = tmp_path / "dot.png"
    image.write_bytes(png())
    async with Harness.start({}, storage=storage) as bot:
        reply = await bot.say(
            "look", attachments=[file_attachment(image, AttachmentKind.IMAGE)] * 2
        )
    assert reply.text == "echo: look\n(images: 2)"


async def test_not_an_image_and_oversize(storage: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fake.png"
    fake.write_text("not an image at all")
    big = tmp_path / "big.png"
    big.write_bytes(png() + b"\x00" * 2000)
    config = {"media": {"image": {"max_bytes": 1000}}}
    async with Harness.start(config, storage=storage) as bot:
        reply = await bot.say("", attachments=[file_attachment(fake, AttachmentKind.IMAGE)])
        assert reply.text == (
            "fake.png: the file is not an image I can read "
            "(JPEG, PNG, GIF, WebP, HEIC, AVIF, TIFF or BMP)."
        )
        assert reply.status == "refused"
        reply = await bot.say("and this", attachments=[file_attachment(big, AttachmentKind.IMAGE)])
        size = big.stat().st_size
        over = f"{size / 1000:.1f} KB, {(size - 1000) / 1000:.1f} KB over the 1.0 KB limit."
        assert reply.text == f"big.png: the file is {over}"  # text beside it: still refused
        assert reply.status == "refused"


async def test_oversize_is_refused_before_fetching(storage: Path) -> None:
    fetched: list[Path] = []

    async def fetch(workdir: Path) -> Path:
        fetched.append(workdir)
        raise AssertionError("must not download")

    huge = Attachment(
        kind=AttachmentKind.VOICE, fetch=fetch, filename="v.ogg", size=30 * 1024 * 1024
    )
    async with Harness.start({}, storage=storage) as bot:
        reply = await bot.say("", attachments=[huge])
    assert fetched == []
    assert reply.text == "v.ogg: the file is 31.5 MB, 6.5 MB over the 25.0 MB limit."


async def test_voice_note_is_transcribed_and_answered_with_voice(
    storage: Path, tmp_path: Path
) -> None:
    note = tmp_path / "note.ogg"
    note.write_bytes(b"OggS" + b"\x00" * 100)
    model = ScriptedChatModel(["Hi there!"])
    transcriber, synthesizer = FakeTranscriber(), FakeSynthesizer()
    plugin = voice_plugin(model, transcriber, synthesizer)
    async with Harness.start(with_voice(), plugins=[plugin], storage=storage) as bot:
        reply = await bot.say("", attachments=[file_attachment(note, AttachmentKind.VOICE)])
        assert (
            model.requests[0].messages[-1].text
            == "[voice message transcript] hello from the voice note"
        )
        assert reply.text == "Hi there!"
        assert len(reply.audio) == 1 and reply.audio[0].duration == 1.5
        assert synthesizer.texts == ["Hi there!"]
        # a text message gets a text reply under "inbound"
        reply = await bot.say("typed")
        assert reply.audio == ()
        activities = [a for _, a in bot.channel.activities if a is not None]
        assert Activity.TRANSCRIBING in activities and Activity.RECORDING in activities
        assert Activity.TYPING in activities
        assert bot.channel.activities[-1][1] is None


async def test_voice_toggle_per_chat(storage: Path) -> None:
    synthesizer = FakeSynthesizer()
    plugin = voice_plugin(ScriptedChatModel(), synthesizer=synthesizer)
    async with Harness.start(with_voice("off"), plugins=[plugin], storage=storage) as bot:
        assert (await bot.say("a")).audio == ()
        assert (await bot.say("/voice on")).text == "Voice replies are on."
        assert len((await bot.say("b")).audio) == 1
        assert (await bot.say("b", chat_id="other")).audio == ()
        await bot.say("/voice off")
        assert (await bot.say("c")).audio == ()


@pytest.mark.parametrize(
    ("failure", "note"),
    [
        (
            SpeechError("the reply is too long for a voice note"),
            "the reply is too long for a voice note",
        ),
        (ProviderTimeout("the speech service did not answer"), "the speech service did not answer"),
        (RuntimeError("boom"), "the speech synthesizer failed"),
    ],
)
async def test_synthesis_failure_still_sends_the_text(
    storage: Path, failure: BaseException, note: str
) -> None:
    plugin = voice_plugin(
        ScriptedChatModel(["the answer"]), synthesizer=FakeSynthesizer(fail=failure)
    )
    async with Harness.start(with_voice("always"), plugins=[plugin], storage=storage) as bot:
        reply = await bot.say("question")
    assert reply.status == "ok"
    assert reply.audio == ()
    assert reply.text.startswith("the answer")
    assert note in reply.text


async def test_speech_limit_falls_back_to_text(storage: Path) -> None:
    synthesizer = FakeSynthesizer()
    plugin = voice_plugin(ScriptedChatModel(), synthesizer=synthesizer)
    async with Harness.start(
        with_voice("always", speech="1/hour"), plugins=[plugin], storage=storage
    ) as bot:
        assert len((await bot.say("a")).audio) == 1
        second = await bot.say("b")
    assert second.audio == () and second.status == "ok"
    assert "no voice reply" in second.text
    assert len(synthesizer.texts) == 1


async def test_no_transcriber_says_so(storage: Path, tmp_path: Path) -> None:
    note = tmp_path / "n.ogg"
    note.write_bytes(b"OggS")
    async with Harness.start({}, storage=storage) as bot:
        reply = await bot.say("", attachments=[file_attachment(note, AttachmentKind.VOICE)])
    assert "no transcriber is configured" in reply.text


async def test_unsupported_kind_gets_a_note_not_silence(storage: Path, tmp_path: Path) -> None:
    doc = tmp_path / "report.pdf"
    doc.write_bytes(b"%PDF-1.4")
    async with Harness.start({}, storage=storage) as bot:
        reply = await bot.say(
            "summarise", attachments=[file_attachment(doc, AttachmentKind.DOCUMENT)]
        )
    # the model is not asked to summarise what it cannot see
    assert reply.text == "report.pdf: I can't read document attachments."
    assert reply.status == "refused"


@attrs.frozen
class VideoProcessor:
    kinds: frozenset[AttachmentKind] = frozenset({AttachmentKind.VIDEO})
    capability: str = "video"

    async def process(self, path: Path, attachment: Attachment, context: Any) -> tuple[Any, ...]:
        if (await trio.Path(path).stat()).st_size == 0:
            raise MediaError("the video is empty.")
        return (TextPart("frame at 0:01"), ImagePart(data=png(), mime_type="image/png"))


async def test_media_processor_and_its_limit(storage: Path, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"video")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    plugin = objects_plugin(media_processors=[("video", VideoProcessor())])
    async with Harness.start(
        {"limits": {"video": "1/hour"}}, plugins=[plugin], storage=storage
    ) as bot:
        reply = await bot.say(
            "what happens?", attachments=[file_attachment(clip, AttachmentKind.VIDEO)]
        )
        assert reply.text == "echo: what happens?\nframe at 0:01\n(images: 1)"
        reply = await bot.say("again", attachments=[file_attachment(clip, AttachmentKind.VIDEO)])
        assert "clip.mp4: " in reply.text and "try again in" in reply.text
        reply = await bot.say("", attachments=[file_attachment(empty, AttachmentKind.VIDEO)])
        assert "empty.mp4" in reply.text


async def test_provider_error_is_one_line_and_the_runtime_keeps_serving(storage: Path) -> None:
    model = ScriptedChatModel([ProviderTimeout("the model did not answer within 60 s."), "back"])
    plugin = objects_plugin(chat_models=[("scripted", model)])
    async with Harness.start(
        {"agent": {"model": "scripted/m"}}, plugins=[plugin], storage=storage
    ) as bot:
        failed = await bot.say("hello")
        assert failed.status == "failed"
        assert failed.text == "Sorry, I couldn't answer: the model did not answer within 60 s."
        assert (await bot.say("again")).text == "back"
        # the failed turn was not stored
        assert [m.text for m in model.requests[-1].messages][1:] == ["again"]


async def test_unexpected_crash_is_logged_with_traceback(storage: Path, caplog: Any) -> None:
    model = ScriptedChatModel([KeyError("bug")])
    plugin = objects_plugin(chat_models=[("scripted", model)])
    async with Harness.start(
        {"agent": {"model": "scripted/m"}}, plugins=[plugin], storage=storage
    ) as bot:
        reply = await bot.say("hello")
    assert reply.text == "Sorry, something went wrong on my side; the details are in the log."
    record = next(r for r in caplog.records if r.getMessage().startswith("turn crashed"))
    assert isinstance(record.exc_info[1], KeyError)


async def test_turn_timeout(storage: Path, autojump_clock: Any) -> None:
    model = ScriptedChatModel(delay=1000)
    plugin = objects_plugin(chat_models=[("scripted", model)])
    config = {"agent": {"model": "scripted/m"}, "runtime": {"turn_timeout": 5}}
    async with Harness.start(config, plugins=[plugin], storage=storage) as bot:
        reply = await bot.say("slow")
    assert reply.text == "Sorry, that took longer than 5 seconds and was stopped."


async def test_help_and_voice_status(storage: Path) -> None:
    async with Harness.start({}, storage=storage) as bot:
        assert "/reset" in (await bot.say("/help")).text
        assert (await bot.say("/voice")).text.startswith("Voice replies: inbound (the default)")
        assert (await bot.say("/voice on")).text == (
            "Voice replies are on, but no speech synthesizer is configured."
        )


async def test_a_turn_cut_short_by_shutdown_still_gets_one_reply(storage: Path) -> None:
    started = trio.Event()

    class HangingModel:
        async def complete(self, request: Any) -> Any:
            started.set()
            await trio.sleep_forever()

    plugin = objects_plugin(chat_models=[("hang", HangingModel())])
    async with Harness.start(
        {"agent": {"model": "hang/m"}}, plugins=[plugin], storage=storage
    ) as bot:
        await bot.submit("hello")
        await started.wait()
        bot.runtime.stop()
        with trio.move_on_after(5):  # a hang guard: without the reply nothing else comes
            await bot.channel.wait_for(1)
    [reply] = bot.channel.sent
    assert reply.status == "failed"
    assert reply.text == INTERRUPTED
    assert len(bot.channel.sent) == 1


@attrs.frozen
class BuggyProcessor:
    kinds: frozenset[AttachmentKind] = frozenset({AttachmentKind.VIDEO})
    capability: str = ""

    async def process(self, path: Path, attachment: Attachment, context: Any) -> tuple[Any, ...]:
        raise ZeroDivisionError("plugin bug")


async def test_a_processor_bug_spoils_one_attachment_not_the_turn(
    storage: Path, tmp_path: Path, caplog: Any
) -> None:
    clip, image = tmp_path / "clip.mp4", tmp_path / "dot.png"
    clip.write_bytes(b"video")
    image.write_bytes(png())
    plugin = objects_plugin(media_processors=[("video", BuggyProcessor())])
    attachments = [
        file_attachment(clip, AttachmentKind.VIDEO),
        file_attachment(image, AttachmentKind.IMAGE),
    ]
    async with Harness.start({}, plugins=[plugin], storage=storage) as bot:
        reply = await bot.say("both", attachments=attachments)
    assert reply.status == "ok"
    assert reply.text.startswith("echo: both")
    assert "(images: 1)" in reply.text
    assert "clip.mp4 could not be processed (an internal error, logged)." in reply.text
    record = next(r for r in caplog.records if r.getMessage().startswith("processing clip.mp4"))
    assert isinstance(record.exc_info[1], ZeroDivisionError)


async def test_a_file_delivered_outside_the_workdir_is_refused(
    storage: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.png"
    outside.write_bytes(png())

    async def fetch(workdir: Path) -> Path:
        link = workdir / "innocent.png"
        await trio.to_thread.run_sync(link.symlink_to, outside)
        return link

    attachment = Attachment(kind=AttachmentKind.IMAGE, fetch=fetch, filename="innocent.png")
    async with Harness.start({}, storage=storage) as bot:
        reply = await bot.say("look", attachments=[attachment])
    assert "(images:" not in reply.text
    assert "innocent.png: the file could not be received." in reply.text


async def test_a_turn_cut_short_inside_a_subprocess_still_gets_one_reply(storage: Path) -> None:
    """``trio.run_process`` raises a group of ``Cancelled``, not a bare one."""
    started = trio.Event()

    class SubprocessModel:
        async def complete(self, request: Any) -> Any:
            started.set()
            await trio.run_process(["sleep", "30"])

    plugin = objects_plugin(chat_models=[("sub", SubprocessModel())])
    async with Harness.start(
        {"agent": {"model": "sub/m"}}, plugins=[plugin], storage=storage
    ) as bot:
        await bot.submit("hello")
        await started.wait()
        await trio.sleep(0.1)  # the child is running
        bot.runtime.stop()
        with trio.move_on_after(5):
            await bot.channel.wait_for(1)
    assert [(o.text, o.status) for o in bot.channel.sent] == [(INTERRUPTED, "failed")]
