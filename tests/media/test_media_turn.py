"""Real files through a real runtime: kinds by content, audio converted, refused turns."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import attrs
import psutil
import pytest
import trio

from nanobot_core import (
    Attachment,
    AttachmentKind,
    ImagePart,
    MediaError,
    TextPart,
    TurnStatus,
)
from nanobot_core.builtins.media import AudioProcessor
from nanobot_core.kinds import sniff
from nanobot_core.protocols import MediaContext
from nanobot_core.testing import Harness, ScriptedChatModel, objects_plugin


@attrs.define(eq=False)
class Transcriber:
    """Records what it was given: the name and the real format of each upload."""

    uploads: list[tuple[str, str | None]] = attrs.field(factory=list)

    async def transcribe(self, audio: Path, *, language: str | None = None) -> str:
        sniffed = await trio.to_thread.run_sync(sniff, audio)
        self.uploads.append((audio.suffix, sniffed.format if sniffed else None))
        return "hello there"


@attrs.define(eq=False)
class VideoProcessor:
    kinds: frozenset[AttachmentKind] = frozenset({AttachmentKind.VIDEO, AttachmentKind.ANIMATION})
    capability: str = ""
    seen: list[tuple[AttachmentKind, str]] = attrs.field(factory=list)

    async def process(self, path: Path, attachment: Attachment, context: Any) -> tuple[Any, ...]:
        self.seen.append((attachment.kind, path.name))
        return (TextPart(f"[video {attachment.filename}]"),)


def document(path: Path) -> Attachment:
    """A file as a channel that cannot tell its kind hands it over (a Telegram document)."""
    return Attachment.from_path(path, AttachmentKind.DOCUMENT)


def config(ffmpeg: Path | None = None, *, transcriber: bool = True) -> dict[str, Any]:
    raw: dict[str, Any] = {"agent": {"model": "scripted/m"}}
    if transcriber:
        raw["voice"] = {"transcriber": "t"}
    if ffmpeg is not None:
        raw["media"] = {"audio": {"ffmpeg": str(ffmpeg)}}
    return raw


def left_in(directory: Path) -> list[Path]:
    return list(directory.iterdir())


@pytest.fixture
def empty_tmpdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The turns' workdirs go here, so the test can see that none is left behind."""
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    return tmpdir


async def test_documents_go_where_their_bytes_say(
    samples: Any, storage: Path, empty_tmpdir: Path, bundled: Path
) -> None:
    model, transcriber, video = ScriptedChatModel(), Transcriber(), VideoProcessor()
    plugin = objects_plugin(
        chat_models=[("scripted", model)],
        transcribers=[("t", transcriber)],
        media_processors=[("video", video)],
    )
    files = [
        samples.png_named_mp4,  # a picture, whatever its name
        samples.mp4_audio,  # audio-only MP4: audio, not "no video track"
        samples.m4b,
        samples.gp3_video,  # 3GP with video: video, not audio/3gpp
        samples.ts_video,  # MPEG-TS: video, not a Qt translation file
        samples.gp3_audio,  # 3GP holding only AMR: audio, converted
    ]
    async with Harness.start(config(bundled), plugins=[plugin], storage=storage) as bot:
        reply = await bot.say("what are these?", attachments=[document(f) for f in files])
    assert reply.status is TurnStatus.OK
    parts = model.requests[0].messages[-1].content
    assert [type(p) for p in parts] == [TextPart, ImagePart] + [TextPart] * 5
    assert [(k, n.split("-", 1)[1]) for k, n in video.seen] == [
        (AttachmentKind.VIDEO, "clip.3gp"),
        (AttachmentKind.VIDEO, "clip.ts"),
    ]
    assert transcriber.uploads == [(".m4a", "mp4"), (".m4a", "mp4"), (".ogg", "opus")]
    assert "[audio transcript] hello there" in model.requests[0].messages[-1].text
    assert left_in(empty_tmpdir) == []


async def test_a_kind_the_channel_reports_is_kept(samples: Any, storage: Path) -> None:
    """A Telegram animation is a video to the processor, though the bytes here are a GIF."""
    video = VideoProcessor()
    plugin = objects_plugin(
        chat_models=[("scripted", ScriptedChatModel())], media_processors=[("video", video)]
    )
    async with Harness.start(config(transcriber=False), plugins=[plugin], storage=storage) as bot:
        gif = Attachment.from_path(samples.gif_animated, AttachmentKind.ANIMATION)
        await bot.say("", attachments=[gif])
    assert [k for k, _ in video.seen] == [AttachmentKind.ANIMATION]


async def test_an_image_sent_as_a_file_is_prepared_like_a_photo(
    samples: Any, storage: Path
) -> None:
    model = ScriptedChatModel()
    plugin = objects_plugin(chat_models=[("scripted", model)])
    async with Harness.start(config(transcriber=False), plugins=[plugin], storage=storage) as bot:
        await bot.say("", attachments=[document(samples.jpeg_rotated), document(samples.heic)])
    first, second = model.requests[0].messages[-1].content
    assert isinstance(first, ImagePart) and isinstance(second, ImagePart)
    assert first.mime_type == second.mime_type == "image/jpeg"
    assert b"GPS" not in first.data


async def test_an_animated_image_is_its_first_frame_and_a_note(samples: Any, storage: Path) -> None:
    model = ScriptedChatModel()
    plugin = objects_plugin(chat_models=[("scripted", model)])
    async with Harness.start(config(transcriber=False), plugins=[plugin], storage=storage) as bot:
        image = Attachment.from_path(samples.webp_animated, AttachmentKind.IMAGE)
        await bot.say("", attachments=[image])
    part, note = model.requests[0].messages[-1].content
    assert isinstance(part, ImagePart)
    assert note == TextPart("[image anim.webp: the first of its 3 animation frames]")


@pytest.mark.parametrize("name", ["amr", "wma", "adts", "ts_audio"])
async def test_undocumented_audio_is_converted_before_upload(
    samples: Any, storage: Path, ffmpeg: Path, name: str, empty_tmpdir: Path
) -> None:
    transcriber = Transcriber()
    plugin = objects_plugin(
        chat_models=[("scripted", ScriptedChatModel())], transcribers=[("t", transcriber)]
    )
    async with Harness.start(config(ffmpeg), plugins=[plugin], storage=storage) as bot:
        audio = Attachment.from_path(getattr(samples, name), AttachmentKind.AUDIO)
        reply = await bot.say("", attachments=[audio])
    assert reply.status is TurnStatus.OK
    assert transcriber.uploads == [(".ogg", "opus")]
    assert left_in(empty_tmpdir) == []


async def test_documented_audio_goes_as_it_is_under_its_real_extension(
    samples: Any, storage: Path, tmp_path: Path
) -> None:
    transcriber = Transcriber()
    plugin = objects_plugin(
        chat_models=[("scripted", ScriptedChatModel())], transcribers=[("t", transcriber)]
    )
    wav_named_bin = tmp_path / "recording.bin"
    shutil.copyfile(samples.wav, wav_named_bin)
    async with Harness.start(config(), plugins=[plugin], storage=storage) as bot:
        await bot.say(
            "", attachments=[Attachment.from_path(samples.ogg_opus, AttachmentKind.VOICE)]
        )
        await bot.say("", attachments=[Attachment.from_path(wav_named_bin, AttachmentKind.AUDIO)])
        await bot.say("", attachments=[Attachment.from_path(samples.mp3, AttachmentKind.AUDIO)])
    assert transcriber.uploads == [(".ogg", "opus"), (".wav", "wav"), (".mp3", "mp3")]


async def test_zero_sample_audio_is_refused_before_upload(samples: Any, storage: Path) -> None:
    model, transcriber = ScriptedChatModel(), Transcriber()
    plugin = objects_plugin(chat_models=[("scripted", model)], transcribers=[("t", transcriber)])
    async with Harness.start(config(), plugins=[plugin], storage=storage) as bot:
        voice = Attachment.from_path(samples.silent_ogg, AttachmentKind.VOICE)
        reply = await bot.say("", attachments=[voice])
    assert reply.status is TurnStatus.REFUSED
    assert reply.text == "silent.ogg: the audio holds no sound at all (zero samples)."
    assert transcriber.uploads == [] and model.requests == []


async def test_without_ffmpeg_undocumented_audio_gets_one_line(
    samples: Any, tmp_path: Path
) -> None:
    processor = AudioProcessor(ffmpeg=None)
    amr = tmp_path / "memo.amr"
    shutil.copyfile(samples.amr, amr)
    context = MediaContext(workdir=tmp_path, transcribe=Transcriber().transcribe)
    with pytest.raises(MediaError) as raised:
        await processor.process(amr, Attachment.from_path(amr, AttachmentKind.AUDIO), context)
    assert str(raised.value) == (
        "AMR audio must be converted before transcription, and ffmpeg was not found "
        "(install ffmpeg, or run: pip install imageio-ffmpeg)."
    )


async def test_a_conversion_that_hangs_is_stopped_and_its_processes_killed(
    samples: Any, storage: Path, tmp_path: Path, empty_tmpdir: Path
) -> None:
    hanging = tmp_path / "ffmpeg"
    hanging.write_text("#!/bin/sh\nsleep 60 &\nwait\n")  # a child in its group, too
    hanging.chmod(0o755)
    transcriber = Transcriber()
    plugin = objects_plugin(
        chat_models=[("scripted", ScriptedChatModel())], transcribers=[("t", transcriber)]
    )
    raw = config(hanging) | {"media": {"audio": {"ffmpeg": str(hanging), "timeout": 0.5}}}
    async with Harness.start(raw, plugins=[plugin], storage=storage) as bot:
        audio = Attachment.from_path(samples.amr, AttachmentKind.AUDIO)
        reply = await bot.say("", attachments=[audio])
    assert reply.text == "memo.amr: converting the audio took longer than 0.5 seconds."
    leftovers = [p for p in psutil.Process().children(recursive=True) if "sleep" in p.name()]
    assert leftovers == []
    assert transcriber.uploads == []
    assert left_in(empty_tmpdir) == []


async def test_nothing_usable_is_a_refused_turn_and_the_model_is_not_called(
    samples: Any, storage: Path, empty_tmpdir: Path
) -> None:
    model = ScriptedChatModel()
    plugin = objects_plugin(chat_models=[("scripted", model)])
    files = [samples.truncated_jpeg, samples.bomb, samples.empty, samples.not_an_image]
    async with Harness.start(config(transcriber=False), plugins=[plugin], storage=storage) as bot:
        reply = await bot.say(
            "", attachments=[Attachment.from_path(f, AttachmentKind.IMAGE) for f in files]
        )
    assert reply.status is TurnStatus.REFUSED
    assert model.requests == []
    lines = reply.text.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "cut.jpg",
        "bomb.png",
        "empty.jpg",
        "picture.jpg",
    ]
    assert lines[0].startswith("cut.jpg: the image does not decode (")
    assert lines[1].startswith("bomb.png: the image is 900 megapixels, 11.2 times the")
    assert lines[2] == "empty.jpg: the image file is empty."
    assert lines[3].startswith("picture.jpg: the file is not an image I can read")
    assert left_in(empty_tmpdir) == []


async def test_what_was_left_out_is_named_once_and_the_rest_is_used(
    samples: Any, storage: Path
) -> None:
    # the echo model repeats what it is given: a note told to the model would show twice
    async with Harness.start({}, storage=storage) as bot:
        attachments = [
            Attachment.from_path(samples.jpeg_rotated, AttachmentKind.IMAGE),
            Attachment.from_path(samples.truncated_jpeg, AttachmentKind.IMAGE),
            Attachment.from_path(samples.heic, AttachmentKind.IMAGE),
        ]
        reply = await bot.say("", attachments=attachments)
    assert reply.status is TurnStatus.OK
    assert "(images: 2)" in reply.text
    assert reply.text.count("cut.jpg") == 1
    assert reply.text.endswith(")") and "cut.jpg: the image does not decode (" in reply.text


async def test_text_with_only_unusable_attachments_is_refused(samples: Any, storage: Path) -> None:
    """The text asks about the attachment; without it the model could only guess."""
    model = ScriptedChatModel()
    plugin = objects_plugin(chat_models=[("scripted", model)])
    async with Harness.start(config(transcriber=False), plugins=[plugin], storage=storage) as bot:
        bad = Attachment.from_path(samples.not_an_image, AttachmentKind.IMAGE)
        reply = await bot.say("what is in this picture?", attachments=[bad])
    assert reply.status is TurnStatus.REFUSED
    assert model.requests == []
    assert reply.text.count("picture.jpg") == 1


def test_no_ffmpeg_is_left_running() -> None:
    """After every test above: no child ffmpeg of this process."""
    children = psutil.Process().children(recursive=True)
    assert [p for p in children if "ffmpeg" in p.name()] == []
