"""Incoming messages: kinds, sizes, access, commands, albums and bad input."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import trio
from nanobot_channel_telegram import testing as tg
from nanobot_channel_telegram.channel import HELP, REFUSAL
from nanobot_channel_telegram.testing import ADMIN, ALICE, BOB, FakeHost, make_config, running
from telethon import functions, types

from nanobot_core import Admission, AttachmentKind, MediaError

KINDS = [
    (tg.photo(1, 50_000), AttachmentKind.IMAGE, "image/jpeg", None, "image-50.jpg"),
    (tg.voice(2, 9_000, duration=3), AttachmentKind.VOICE, "audio/ogg", 3.0, "voice-50.oga"),
    (tg.audio(3, 90_000, duration=180), AttachmentKind.AUDIO, "audio/mpeg", 180.0, "song.mp3"),
    (tg.video(4, 900_000, duration=12.0), AttachmentKind.VIDEO, "video/mp4", 12.0, "clip.mp4"),
    (tg.video_note(5, 400_000, duration=8.0), AttachmentKind.VIDEO_NOTE, "video/mp4", 8.0,
     "video_note-50.mp4"),
    (tg.animation(6, 80_000), AttachmentKind.ANIMATION, "video/mp4", 2.0, "funny.gif.mp4"),
    (tg.pdf(7, 30_000), AttachmentKind.DOCUMENT, "application/pdf", None, "report.pdf"),
    (tg.document(8, 30_000, "image/png"), AttachmentKind.DOCUMENT, "image/png", None,
     "document-50.png"),
]  # fmt: skip
SIZES = [50_000, 9_000, 90_000, 900_000, 400_000, 80_000, 30_000, 30_000]


@pytest.mark.parametrize(
    ("media", "kind", "mime", "duration", "filename", "size"),
    [(*k, size) for k, size in zip(KINDS, SIZES, strict=True)],
)
async def test_each_media_kind_becomes_its_attachment_without_downloading(
    host: FakeHost, media: types.TypeMessageMedia, kind: AttachmentKind, mime: str,
    duration: float | None, filename: str, size: int,
) -> None:  # fmt: skip
    async with running(host) as bot:
        await bot.receive(tg.message(ALICE, "what is this?", media=media, message_id=50))
    (inbound,) = host.inbounds
    (attachment,) = inbound.attachments
    assert inbound.text == "what is this?"
    assert (attachment.kind, attachment.mime_type, attachment.duration) == (kind, mime, duration)
    assert (attachment.filename, attachment.size) == (filename, size)
    assert bot.fake.sent(functions.upload.GetFileRequest) == []


async def test_fetch_downloads_into_the_given_workdir(host: FakeHost, tmp_path: Path) -> None:
    content = bytes(range(256)) * 1000
    async with running(host) as bot:
        bot.fake.files[4] = content
        await bot.receive(tg.message(ALICE, media=tg.video(4, len(content))))
        (attachment,) = host.inbounds[0].attachments
        workdir = tmp_path / "turn"
        workdir.mkdir()
        path = await attachment.fetch(workdir)
    assert path.parent == workdir
    assert path.read_bytes() == content
    (request, *_) = bot.fake.sent(functions.upload.GetFileRequest)
    assert request.location.id == 4


async def test_an_albums_files_with_one_name_are_fetched_side_by_side(
    host: FakeHost, tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with running(host) as bot:
        bot.fake.files.update({21: b"first report", 22: b"second report"})
        await bot.receive(
            tg.message(ALICE, "two reports", media=tg.pdf(21, 12), grouped_id=5),
            tg.message(ALICE, media=tg.pdf(22, 13), grouped_id=5),
            settle=False,
        )
        await trio.sleep(2)
        (inbound,) = host.inbounds
        paths = [await a.fetch(tmp_path) for a in inbound.attachments]
    assert [a.filename for a in inbound.attachments] == ["report.pdf", "report.pdf"]
    assert [p.read_bytes() for p in paths] == [b"first report", b"second report"]


async def test_a_file_larger_than_declared_stops_downloading(
    host: FakeHost, tmp_path: Path
) -> None:
    async with running(host, make_config(max_download_bytes=2_000)) as bot:
        bot.fake.files[4] = bytes(5_000)
        await bot.receive(tg.message(ALICE, media=tg.video(4, 1_000)))
        (attachment,) = host.inbounds[0].attachments
        with pytest.raises(MediaError, match="larger than it said"):
            await attachment.fetch(tmp_path)


async def test_a_download_refused_by_telegram_is_a_media_error(
    host: FakeHost, tmp_path: Path
) -> None:
    async with running(host) as bot:
        bot.fake.files[4] = bytes(1_000)
        bot.fake.fail(lambda r: isinstance(r, functions.upload.GetFileRequest),
                      "FILE_ID_INVALID")  # fmt: skip
        await bot.receive(tg.message(ALICE, media=tg.video(4, 1_000)))
        (attachment,) = host.inbounds[0].attachments
        refused = r"^Telegram would not send that file \(FileIdInvalidError\)"
        with pytest.raises(MediaError, match=refused):
            await attachment.fetch(tmp_path)


async def test_oversize_media_is_refused_from_its_declared_size(host: FakeHost) -> None:
    async with running(host, make_config(max_download_bytes=1_000_000)) as bot:
        await bot.receive(tg.message(ALICE, "look", media=tg.video(4, 5_000_000)))
    assert host.inbounds == []
    assert bot.texts() == ["That file is too big for me (5.0 MB; the limit is 1.0 MB)."]
    assert bot.fake.sent(functions.upload.GetFileRequest) == []


async def test_unknown_users_get_one_refusal_per_period_and_nothing_else(
    host: FakeHost, autojump_clock: trio.testing.MockClock
) -> None:
    async with running(host, make_config(refusal_period=3600)) as bot:
        await bot.receive(tg.message(BOB, "hi", media=tg.photo(1, 5_000)))
        await bot.receive(tg.message(BOB, "/start"), tg.message(BOB, "hello?"))
        assert bot.texts() == [REFUSAL.format(user_id=BOB)]
        await trio.sleep(3601)
        await bot.receive(tg.message(BOB, "still there?"))
    assert host.inbounds == []
    assert bot.texts() == [REFUSAL.format(user_id=BOB)] * 2
    assert bot.fake.sent(functions.upload.GetFileRequest) == []


async def test_a_denial_by_the_runtime_is_answered_with_the_refusal(host: FakeHost) -> None:
    host.admission = Admission.DENIED
    async with running(host) as bot:
        await bot.receive(tg.message(ALICE, "hi"))
    assert len(host.inbounds) == 1
    assert bot.texts() == [REFUSAL.format(user_id=ALICE)]


@pytest.mark.parametrize("command", ["/start", "/help", "/help@nanotest_bot"])
async def test_start_and_help_answer_allowed_users(host: FakeHost, command: str) -> None:
    async with running(host) as bot:
        await bot.receive(tg.message(ADMIN, command))
    assert host.inbounds == []
    assert bot.texts() == [HELP.format(name="Nano")]


@pytest.mark.parametrize("command", ["/reset", "/voice on", "/voice off"])
async def test_core_commands_pass_through_as_text(host: FakeHost, command: str) -> None:
    async with running(host) as bot:
        await bot.receive(tg.message(ALICE, command))
    assert [i.text for i in host.inbounds] == [command]
    assert bot.texts() == []


async def test_an_album_becomes_one_turn(
    host: FakeHost, autojump_clock: trio.testing.MockClock
) -> None:
    async with running(host) as bot:
        album = [
            tg.message(ALICE, "our trip", media=tg.photo(11, 1_000), grouped_id=77),
            tg.message(ALICE, media=tg.photo(12, 1_000), grouped_id=77),
            tg.message(ALICE, media=tg.video(13, 1_000), grouped_id=77),
        ]
        await bot.receive(*album, tg.message(ALICE, "and another thing"), settle=False)
        await trio.sleep(5)
    assert [(i.text, [a.kind for a in i.attachments]) for i in host.inbounds] == [
        ("our trip", [AttachmentKind.IMAGE, AttachmentKind.IMAGE, AttachmentKind.VIDEO]),
        ("and another thing", []),
    ]


@pytest.mark.parametrize(
    ("media", "what"),
    [
        (tg.sticker(9), "stickers"),
        (tg.location(), "locations"),
        (types.MessageMediaUnsupported(), "this kind of message"),
        (types.MessageMediaDice(value=3, emoticon="🎲"), "dice"),
    ],
)
async def test_unusable_media_gets_a_short_reply(
    host: FakeHost, media: types.TypeMessageMedia, what: str
) -> None:
    async with running(host) as bot:
        await bot.receive(tg.message(ALICE, media=media))
    assert host.inbounds == []
    assert bot.texts() == [f"I can't read {what} — send me text, a photo, a voice note, audio, "
                           "a video or a file."]  # fmt: skip


async def test_group_messages_are_skipped_unless_groups_are_on(host: FakeHost) -> None:
    in_group = types.PeerChat(chat_id=555)
    async with running(host) as bot:
        await bot.receive(tg.message(ALICE, "hi all", chat=in_group))
        await bot.receive(tg.message(BOB, "hi all", chat=in_group))
    assert host.inbounds == []
    assert bot.texts() == []
    async with running(host, make_config(groups=True)) as bot:
        await bot.receive(tg.message(ALICE, "hi all", chat=in_group))
        await bot.receive(tg.message(BOB, "me too", chat=in_group))
    assert [(i.chat_id, i.user_id, i.text) for i in host.inbounds] == [
        ("-555", str(ALICE), "hi all")
    ]
    assert bot.texts() == []  # no refusals broadcast into a group


async def test_group_commands_for_another_bot_are_skipped(host: FakeHost) -> None:
    in_group = types.PeerChat(chat_id=555)
    async with running(host, make_config(groups=True)) as bot:
        for text in ("/reset@other_bot", "/help@other_bot", "/reset@NanoTest_bot", "/voice on"):
            await bot.receive(tg.message(ALICE, text, chat=in_group))
    assert [i.text for i in host.inbounds] == ["/reset@NanoTest_bot", "/voice on"]
    assert bot.texts() == []


async def test_channel_posts_are_skipped(host: FakeHost) -> None:
    async with running(host, make_config(groups=True)) as bot:
        await bot.receive(tg.message(ALICE, "news", chat=types.PeerChannel(channel_id=888)))
    assert host.inbounds == []


async def test_deleted_messages_are_logged_and_skipped(
    host: FakeHost, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="nanobot.telegram")
    async with running(host) as bot:
        link = bot.channel.link
        deleted = types.UpdateDeleteMessages(messages=[5, 6], pts=3, pts_count=2)
        await bot.fake.deliver(link.bridge, link.client, deleted)
        await bot.receive(tg.message(ALICE, "still works"))
    assert "messages [5, 6] were deleted" in caplog.text
    assert [i.text for i in host.inbounds] == ["still works"]


async def test_a_failure_while_handling_is_logged_with_its_traceback(
    host: FakeHost, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(inbound: object) -> None:
        if len(host.inbounds) == 1:
            raise RuntimeError("boom in submit")

    host.on_submit = explode
    async with running(host) as bot:
        await bot.receive(tg.message(ALICE, "first", message_id=5))
        await bot.receive(tg.message(ALICE, "second"))
    (record,) = [r for r in caplog.records if r.name == "nanobot.telegram" and r.exc_info]
    assert record.levelno == logging.ERROR
    assert "failed to handle message 5" in record.getMessage()
    assert isinstance(record.exc_info[1], RuntimeError)
    assert [i.text for i in host.inbounds] == ["first", "second"]
