"""A Telegram server for tests, at telethon's MTProto sender seam. No network.

``FakeTelegram`` replaces a real ``TelegramClient``'s ``_sender``: every
request the client makes arrives here as the real TL request object and is
answered with real TL result objects (or a real RPC error built by
``telethon.errors.rpc_message_to_error``). Updates are fed through the
client's own ``_preprocess_updates`` and ``_dispatch_update``, so handlers get
real ``events.NewMessage.Event`` objects.

These are telethon's private seams: the plugin pins telethon's version and
this module must be checked against every new one.
"""

from __future__ import annotations

import asyncio
import datetime
import itertools
import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio
import trio.testing
from telethon import TelegramClient, errors, functions, types  # type: ignore[import-untyped]
from telethon.crypto import AuthKey  # type: ignore[import-untyped]
from telethon.tl import TLRequest  # type: ignore[import-untyped]

from nanobot_core import Admission, Inbound, Secret

from .bridge import Bridge

if TYPE_CHECKING:
    from .channel import TelegramChannel
    from .config import TelegramConfig

BOT_ID = 7_000_000_001
BOT_TOKEN = "7000000001:TEST-token"
API_ID = 12345
API_HASH = "0123456789abcdef0123456789abcdef"
DC_ID = 2

_EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


@attrs.define
class _Failure:
    matches: Callable[[TLRequest], bool]
    error: str
    code: int
    times: int


@attrs.define
class FakeTelegram:
    """Answers a client's requests and records them, in order, as real TL objects."""

    username: str = "nanotest_bot"
    bot_token: str = BOT_TOKEN
    api_id: int = API_ID
    requests: list[TLRequest] = attrs.field(factory=list)
    answered_at: list[float] = attrs.field(factory=list)
    """``trio.current_time()`` of each request, in the order of ``requests``."""
    files: dict[int, bytes] = attrs.field(factory=dict)
    pts: int = 1
    """The account's update sequence number, as ``updates.getState`` tells it."""
    missed: list[types.Message] = attrs.field(factory=list)
    """Messages sent while no client was connected: ``updates.getDifference`` returns them."""
    _failures: list[_Failure] = attrs.field(factory=list)
    _ids: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1000))
    _logins: dict[int, types.User] = attrs.field(factory=dict)
    """The bot each auth key logged in as, by key id: as on Telegram, a saved session
    stays logged in as its bot whatever token is configured later."""

    @property
    def me(self) -> types.User:
        """The bot that ``bot_token`` belongs to (its id is the token's first part)."""
        return types.User(
            id=int(self.bot_token.partition(":")[0]), access_hash=99, bot=True, is_self=True,
            first_name="Nano", username=self.username,
        )  # fmt: skip

    def install(self, client: TelegramClient) -> TelegramClient:
        client._sender = _FakeSender(self, client.session.auth_key)
        return client

    def fail(
        self, matches: Callable[[TLRequest], bool], error: str, *, code: int = 400, times: int = 1
    ) -> None:
        """Answer the next ``times`` matching requests with the RPC error ``error``."""
        self._failures.append(_Failure(matches, error, code, times))

    def sent(self, kind: type[TLRequest] | tuple[type[TLRequest], ...]) -> list[Any]:
        return [r for r in self.requests if isinstance(r, kind)]

    # --- answering ------------------------------------------------------------------

    def answer(self, request: TLRequest, key_id: int) -> Any:
        self.requests.append(request)
        self.answered_at.append(trio.current_time())
        for failure in self._failures:
            if failure.times > 0 and failure.matches(request):
                failure.times -= 1
                raise errors.rpc_message_to_error(
                    types.RpcError(failure.code, failure.error), request
                )
        return self._result(request, key_id)

    def _result(self, request: TLRequest, key_id: int) -> Any:
        f = functions
        if isinstance(request, f.InvokeWithLayerRequest):
            return None
        if isinstance(request, f.auth.ImportBotAuthorizationRequest):
            if request.api_id != self.api_id:
                raise errors.rpc_message_to_error(types.RpcError(400, "API_ID_INVALID"), request)
            if request.bot_auth_token != self.bot_token:
                raise errors.rpc_message_to_error(
                    types.RpcError(400, "ACCESS_TOKEN_INVALID"), request
                )
            self._logins[key_id] = self.me
            return types.auth.Authorization(user=self.me)
        needs_login = (f.updates.GetStateRequest, f.users.GetUsersRequest)
        if isinstance(request, needs_login) and key_id not in self._logins:
            raise errors.rpc_message_to_error(types.RpcError(401, "AUTH_KEY_UNREGISTERED"), request)
        if isinstance(request, f.updates.GetStateRequest):
            return self._state()
        if isinstance(request, f.updates.GetDifferenceRequest):
            return self._difference(request)
        if isinstance(request, f.users.GetUsersRequest):
            return [self._logins[key_id]]
        if isinstance(request, f.messages.SetTypingRequest):
            return True
        if isinstance(request, f.upload.SaveFilePartRequest | f.upload.SaveBigFilePartRequest):
            return True
        if isinstance(request, f.messages.SendMessageRequest):
            return types.UpdateShortSentMessage(
                out=True, id=next(self._ids), pts=1, pts_count=1, date=_EPOCH
            )
        if isinstance(request, f.messages.SendMediaRequest):
            message_id = next(self._ids)
            message = types.Message(
                id=message_id, peer_id=_peer(request.peer), date=_EPOCH,
                message=request.message, out=True,
            )  # fmt: skip
            return types.Updates(
                updates=[
                    types.UpdateMessageID(id=message_id, random_id=request.random_id),
                    types.UpdateNewMessage(message=message, pts=1, pts_count=1),
                ],
                users=[], chats=[], date=_EPOCH, seq=0,
            )  # fmt: skip
        if isinstance(request, f.upload.GetFileRequest):
            data = self.files[request.location.id]
            chunk = data[request.offset : request.offset + request.limit]
            return types.upload.File(type=types.storage.FileUnknown(), mtime=0, bytes=chunk)
        raise AssertionError(f"FakeTelegram has no answer for {type(request).__name__}")

    def _state(self) -> types.updates.State:
        return types.updates.State(pts=self.pts, qts=0, date=_EPOCH, seq=1, unread_count=0)

    def miss(self, *messages: types.Message) -> None:
        """Messages users send while the bot is down: each advances the account's pts."""
        self.missed.extend(messages)
        self.pts += len(messages)

    def _difference(self, request: Any) -> Any:
        """What came after the client's pts (only ``missed`` messages are kept)."""
        new = (
            self.missed[len(self.missed) - (self.pts - request.pts) :]
            if request.pts < self.pts
            else []
        )
        if not new:
            return types.updates.DifferenceEmpty(date=_EPOCH, seq=1)
        senders = {m.from_id.user_id if m.from_id else m.peer_id.user_id for m in new}
        return types.updates.Difference(
            new_messages=list(new), new_encrypted_messages=[], other_updates=[], chats=[],
            users=[user(s) for s in sorted(senders)], state=self._state(),
        )  # fmt: skip

    # --- updates --------------------------------------------------------------------

    async def deliver(
        self,
        bridge: Bridge,
        client: TelegramClient,
        update: types.TypeUpdate,
        users: Sequence[types.User] = (),
        chats: Sequence[types.TypeChat] = (),
    ) -> None:
        """Feed one update through the client's own preprocessing and dispatch."""

        async def dispatch() -> None:
            (prepared,) = await client._preprocess_updates([update], list(users), list(chats))
            await client._dispatch_update(prepared)

        await bridge.call(dispatch)


def _peer(input_peer: Any) -> types.TypePeer:
    if isinstance(input_peer, types.InputPeerUser):
        return types.PeerUser(input_peer.user_id)
    if isinstance(input_peer, types.InputPeerChat):
        return types.PeerChat(input_peer.chat_id)
    if isinstance(input_peer, types.InputPeerChannel):
        return types.PeerChannel(input_peer.channel_id)
    raise AssertionError(f"unexpected peer {input_peer!r}")


class _FakeSender:
    """What ``TelegramClient`` expects of ``MTProtoSender``, answered by ``FakeTelegram``."""

    def __init__(self, server: FakeTelegram, auth_key: AuthKey | None) -> None:
        self._server = server
        self._connected = False
        self._disconnected: asyncio.Future[None] | None = None
        self.auth_key = auth_key or AuthKey(None)

    async def connect(self, connection: Any) -> bool:
        if self._connected:
            return False
        self._connected = True
        self._disconnected = asyncio.get_running_loop().create_future()
        if not self.auth_key:
            self.auth_key = AuthKey(os.urandom(256))
        return True

    def is_connected(self) -> bool:
        return self._connected

    def _transport_connected(self) -> bool:
        return False  # keeps telethon's keep-alive loop from pinging

    async def disconnect(self) -> None:
        self._connected = False
        if self._disconnected is not None and not self._disconnected.done():
            self._disconnected.set_result(None)

    def drop(self, error: BaseException) -> None:
        """Lose the connection as the network would."""
        self._connected = False
        if self._disconnected is not None and not self._disconnected.done():
            self._disconnected.set_exception(error)

    @property
    def disconnected(self) -> asyncio.Future[None]:
        if self._disconnected is None:
            self._disconnected = asyncio.get_running_loop().create_future()
        return asyncio.shield(self._disconnected)

    def send(self, request: TLRequest, ordered: bool = False) -> asyncio.Future[Any]:
        if not self._connected:
            raise ConnectionError("Cannot send requests while disconnected")
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        try:
            future.set_result(self._server.answer(request, self.auth_key.key_id))
        except errors.RPCError as error:
            future.set_exception(error)
        return future


# --- real TL objects for the messages users send ------------------------------------

_message_ids = itertools.count(1)


def user(user_id: int, first_name: str = "Ada") -> types.User:
    return types.User(id=user_id, access_hash=user_id * 7 + 1, first_name=first_name)


def message(
    sender: int,
    text: str = "",
    *,
    media: types.TypeMessageMedia | None = None,
    chat: types.TypePeer | None = None,
    grouped_id: int | None = None,
    message_id: int | None = None,
    date: datetime.datetime | None = None,
) -> types.Message:
    """An incoming message: private from ``sender`` unless ``chat`` names a group.

    Sent now unless ``date`` says when (older than the replay window: asked again)."""
    return types.Message(
        id=message_id if message_id is not None else next(_message_ids),
        peer_id=chat if chat is not None else types.PeerUser(sender),
        from_id=types.PeerUser(sender) if chat is not None else None,
        date=date or datetime.datetime.now(datetime.UTC),
        message=text,
        media=media,
        grouped_id=grouped_id,
    )


def new_message(msg: types.Message) -> types.UpdateNewMessage:
    return types.UpdateNewMessage(message=msg, pts=2, pts_count=1)


def photo(file_id: int, size: int) -> types.MessageMediaPhoto:
    return types.MessageMediaPhoto(
        photo=types.Photo(
            id=file_id, access_hash=1, file_reference=b"", date=_EPOCH, dc_id=DC_ID,
            sizes=[types.PhotoSize(type="y", w=800, h=600, size=size)],
        )
    )  # fmt: skip


def document(
    file_id: int,
    size: int,
    mime_type: str,
    attributes: Sequence[types.TypeDocumentAttribute] = (),
) -> types.MessageMediaDocument:
    return types.MessageMediaDocument(
        document=types.Document(
            id=file_id, access_hash=1, file_reference=b"", date=_EPOCH, mime_type=mime_type,
            size=size, dc_id=DC_ID, attributes=list(attributes),
        )
    )  # fmt: skip


def voice(file_id: int, size: int, duration: int = 3) -> types.MessageMediaDocument:
    return document(
        file_id, size, "audio/ogg", [types.DocumentAttributeAudio(duration=duration, voice=True)]
    )


def audio(file_id: int, size: int, duration: int = 180) -> types.MessageMediaDocument:
    return document(
        file_id, size, "audio/mpeg",
        [types.DocumentAttributeAudio(duration=duration, title="Song", performer="Band"),
         types.DocumentAttributeFilename("song.mp3")],
    )  # fmt: skip


def video(file_id: int, size: int, duration: float = 12.0) -> types.MessageMediaDocument:
    return document(
        file_id, size, "video/mp4",
        [types.DocumentAttributeVideo(duration=duration, w=640, h=360),
         types.DocumentAttributeFilename("clip.mp4")],
    )  # fmt: skip


def video_note(file_id: int, size: int, duration: float = 8.0) -> types.MessageMediaDocument:
    return document(
        file_id, size, "video/mp4",
        [types.DocumentAttributeVideo(duration=duration, w=384, h=384, round_message=True)],
    )  # fmt: skip


def animation(file_id: int, size: int) -> types.MessageMediaDocument:
    return document(
        file_id, size, "video/mp4",
        [types.DocumentAttributeAnimated(),
         types.DocumentAttributeVideo(duration=2.0, w=320, h=240),
         types.DocumentAttributeFilename("funny.gif.mp4")],
    )  # fmt: skip


def pdf(file_id: int, size: int) -> types.MessageMediaDocument:
    return document(
        file_id, size, "application/pdf", [types.DocumentAttributeFilename("report.pdf")]
    )


def sticker(file_id: int, size: int = 20_000) -> types.MessageMediaDocument:
    return document(
        file_id, size, "image/webp",
        [types.DocumentAttributeSticker(alt="😀", stickerset=types.InputStickerSetEmpty()),
         types.DocumentAttributeImageSize(w=512, h=512)],
    )  # fmt: skip


def location() -> types.MessageMediaGeo:
    return types.MessageMediaGeo(geo=types.GeoPoint(long=2.35, lat=48.85, access_hash=1))


# --- a running channel and a fake runtime --------------------------------------------

ALICE = 111_111_111
BOB = 222_222_222  # not allowed
ADMIN = 333_333_333


def make_config(**overrides: Any) -> TelegramConfig:
    from .config import TelegramConfig

    values: dict[str, Any] = {
        "api_id": API_ID,
        "api_hash": Secret(value=API_HASH),
        "bot_token": Secret(value=BOT_TOKEN),
        "allow_from": (ALICE,),
        "admins": (ADMIN,),
    }
    values.update(overrides)
    return TelegramConfig(**values)


@attrs.define
class FakeHost:
    """Records what the channel submits; answers like the runtime would."""

    storage_path: Path
    config: Any = None
    inbounds: list[Inbound] = attrs.field(factory=list)
    admission: Admission = Admission.ACCEPTED
    on_submit: Callable[[Inbound], Any] | None = None

    async def submit(self, inbound: Inbound) -> Admission:
        self.inbounds.append(inbound)
        if self.on_submit is not None:
            await self.on_submit(inbound)
        if inbound.user_id not in (str(ALICE), str(ADMIN)):
            return Admission.DENIED
        return self.admission


@attrs.define
class Running:
    channel: TelegramChannel
    fake: FakeTelegram
    host: FakeHost

    async def receive(self, *messages: types.Message, settle: bool = True) -> None:
        """Deliver messages as Telegram would, each through the client's own dispatch."""
        link = self.channel.link
        for msg in messages:
            sender = msg.from_id.user_id if msg.from_id else msg.peer_id.user_id
            await self.fake.deliver(
                link.bridge, link.client, new_message(msg), [user(sender)], _chats_of(msg)
            )
        if settle:
            await self.settle()

    async def settle(self) -> None:
        await trio.testing.wait_all_tasks_blocked()

    def texts(self) -> list[str]:
        return [r.message for r in self.fake.sent(functions.messages.SendMessageRequest)]


@asynccontextmanager
async def running(
    host: FakeHost, config: TelegramConfig | None = None, fake: FakeTelegram | None = None
) -> AsyncIterator[Running]:
    """The channel connected to ``fake`` (a new ``FakeTelegram`` by default)."""
    from .channel import TelegramChannel
    from .client import make_client

    fake = fake or FakeTelegram()
    channel = TelegramChannel(
        config or make_config(), host, make=lambda s, c: fake.install(make_client(s, c))
    )
    async with trio.open_nursery() as nursery:
        await nursery.start(channel.run)
        yield Running(channel, fake, host)
        nursery.cancel_scope.cancel()


def _chats_of(msg: types.Message) -> list[types.TypeChat]:
    peer = msg.peer_id
    if isinstance(peer, types.PeerChat):
        return [
            types.Chat(
                id=peer.chat_id, title="Group", photo=types.ChatPhotoEmpty(),
                participants_count=3, date=_EPOCH, version=1,
            )
        ]  # fmt: skip
    if isinstance(peer, types.PeerChannel):
        return [
            types.Channel(
                id=peer.channel_id, title="News", photo=types.ChatPhotoEmpty(),
                date=_EPOCH, access_hash=5, broadcast=True,
            )
        ]  # fmt: skip
    return []
