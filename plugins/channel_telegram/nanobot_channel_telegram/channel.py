"""The Telegram channel: messages in through telethon's updates, replies out per chat.

Inbound, each chat has its own trio task fed in order from telethon's handler,
so a chat whose queue in the runtime is full never holds up another chat, and
an album's items, arriving one by one, are gathered into one turn. Outbound,
every chat is paced on its own and a flood wait delays only the chat it was
given for.

Catch-up: the update state is saved with the session every ``STATE_INTERVAL``
seconds, and the next start asks Telegram for what arrived in between. The
state saved is one taken a whole interval earlier at a moment when no message
was waiting in the plugin, so every message it covers has reached
``host.submit`` (which records it durably); what came later is delivered again
after a restart and the runtime's inbox answers it once, by message id.
A message older than ``[runtime] replay_window`` is asked for again instead.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import trio
from telethon import errors, events, types  # type: ignore[import-untyped]

from nanobot_core import (
    Access,
    Activity,
    Admission,
    Attachment,
    Host,
    Inbound,
    Outbound,
)

from . import formatting
from .bridge import open_bridge
from .client import ClientFactory, TelegramLink, make_client, open_link
from .config import TelegramConfig
from .inbound import Unsupported, attachment, classify, declared_size
from .session import SessionStore, UpdateState, session_path

log = logging.getLogger("nanobot.telegram")

INBOX_SIZE = 32
IDLE_CHAT_SECONDS = 300.0
MAX_SEND_ATTEMPTS = 4
MAX_REMEMBERED = 10_000
STATE_INTERVAL = 2.0
DEFAULT_REPLAY_WINDOW = 300.0

HELP = (
    "Hi, I'm {name}, a personal assistant. Send me text, photos, voice notes, audio, "
    "video or files.\n\n"
    "/reset — start a new conversation\n"
    "/voice on — answer with voice notes too; /voice off — text only\n"
    "/help — this message"
)
REFUSAL = (
    "Sorry, this is a private assistant. Your Telegram user id is {user_id}; "
    "its owner can add it to allow_from."
)
TOO_BIG = "That file is too big for me ({size:.1f} MB; the limit is {limit:.1f} MB)."
UNSUPPORTED = "I can't read {what} — send me text, a photo, a voice note, audio, a video or a file."
STALE = (
    "Sorry, I was offline when you sent that, and it is too old to answer now; "
    "please send it again."
)


class TelegramChannel:
    """A bot account as a nanobot channel (``[channels.telegram]``)."""

    name = "telegram"

    def __init__(
        self,
        config: TelegramConfig,
        host: Host,
        *,
        make: ClientFactory = make_client,
        replay_window: float = DEFAULT_REPLAY_WINDOW,
    ) -> None:
        self.config = config
        self.host = host
        self.replay_window = replay_window
        self.access = config.access_policy()
        self._make = make
        self._store = SessionStore(session_path(host.storage_path, config.bot_token.reveal()))
        self._link: TelegramLink | None = None
        self._nursery: trio.Nursery | None = None
        self._inboxes: dict[str, trio.MemorySendChannel[types.Message]] = {}
        self._peers: OrderedDict[str, types.TypeInputPeer] = OrderedDict()
        self._refused_at: dict[str, float] = {}
        self._next_send: dict[str, float] = {}
        self._activities: dict[str, trio.CancelScope] = {}
        self._in_flight = 0  # messages taken from telethon, not yet through host.submit
        self._safe_state: UpdateState | None = None
        self._next_state: UpdateState | None = None  # taken with nothing waiting; saved next
        self._linked = trio.Event()

    @property
    def link(self) -> TelegramLink:
        if self._link is None:
            raise RuntimeError("the Telegram channel is not connected")
        return self._link

    # --- running ----------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        # The handlers are in place before connecting: what telethon catches up on
        # start is dispatched at once, and waits in the chats' queues for the link.
        self._linked = trio.Event()
        async with open_bridge() as bridge, trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                async with open_link(
                    self.config, self._store, bridge, self._make, self._add_handlers
                ) as link:
                    self._link = link
                    self._linked.set()
                    log.info("telegram: connected as @%s", link.username)
                    nursery.start_soon(self._keep_update_state, link)
                    task_status.started()
                    try:
                        await link.wait_disconnected()
                    finally:
                        if self._safe_state is not None:  # written as open_link closes
                            self._store.keep(self._safe_state)
                    raise ConnectionError("the connection to Telegram ended")
            finally:
                self._link = self._nursery = None
                self._inboxes.clear()
                nursery.cancel_scope.cancel()

    def _add_handlers(self, client: Any) -> None:
        client.add_event_handler(self._on_new_message, events.NewMessage(incoming=True))
        client.add_event_handler(self._on_deleted, events.MessageDeleted())

    async def _on_new_message(self, event: events.NewMessage.Event) -> None:
        """telethon's handler (asyncio side): hand the message to its chat's task.

        telethon only logs what a handler raises; report it ourselves.
        """
        try:
            self._enqueue(event.message)
        except Exception:
            log.exception("telegram: could not take message %s", event.message.id)

    async def _on_deleted(self, event: events.MessageDeleted.Event) -> None:
        log.info("telegram: messages %s were deleted; nothing to do", event.deleted_ids)

    def _enqueue(self, message: types.Message) -> None:
        if self._nursery is None:
            log.warning("telegram: message %s arrived while stopping; skipped", message.id)
            return
        chat = str(message.chat_id)
        inbox = self._inboxes.get(chat)
        if inbox is None:
            inbox, received = trio.open_memory_channel[types.Message](INBOX_SIZE)
            self._inboxes[chat] = inbox
            self._nursery.start_soon(self._serve_chat, chat, received)
        try:
            inbox.send_nowait(message)
            self._in_flight += 1
        except trio.WouldBlock:
            log.warning("telegram: chat %s has %d messages waiting; message %s skipped",
                        chat, INBOX_SIZE, message.id)  # fmt: skip

    async def _serve_chat(self, chat: str, inbox: trio.MemoryReceiveChannel[types.Message]) -> None:
        """Handle one chat's messages in order; gather albums; end when the chat goes idle."""
        pending: types.Message | None = None
        await self._linked.wait()
        while True:
            if pending is None:
                with trio.move_on_after(IDLE_CHAT_SECONDS):
                    pending = await inbox.receive()
                if pending is None:
                    try:
                        pending = inbox.receive_nowait()
                    except trio.WouldBlock:
                        del self._inboxes[chat]
                        return
            group, pending = await self._gather(pending, inbox)
            try:
                await self._handle(group)
            except Exception:
                log.exception("telegram: failed to handle message %s in chat %s", group[0].id, chat)
            finally:
                self._in_flight -= len(group)

    async def _keep_update_state(self, link: TelegramLink) -> None:
        """Save, every interval, the update state seen one interval ago with nothing waiting.

        A bot's first start saves the state it was given at login straight away, so
        even a first run that dies young is caught up from.
        """
        taken = link.update_state() if self._store.update_state is None else None
        while True:
            if taken is not None and taken != self._safe_state:
                self._safe_state = taken
                try:
                    await self._store.save("", taken)
                except OSError as error:
                    log.warning("telegram: could not save the update state: %s", error.strerror)
            await trio.sleep(STATE_INTERVAL)
            taken = None
            if not self._in_flight:
                taken, self._next_state = self._next_state, link.update_state()

    async def _gather(
        self, first: types.Message, inbox: trio.MemoryReceiveChannel[types.Message]
    ) -> tuple[list[types.Message], types.Message | None]:
        """An album arrives as one message per item: wait briefly for the rest."""
        group = [first]
        if first.grouped_id is None:
            return group, None
        with trio.move_on_after(self.config.album_window):
            while True:
                following = await inbox.receive()
                if following.grouped_id != first.grouped_id:
                    return group, following
                group.append(following)
        return group, None

    # --- one inbound message (or album) ----------------------------------------------

    async def _handle(self, messages: list[types.Message]) -> None:
        first = messages[0]
        if not (first.is_private or (first.is_group and self.config.groups)):
            where = "group" if first.is_group else "channel"
            log.info("telegram: skipped a message from %s %s (groups = %s)",
                     where, first.chat_id, self.config.groups)  # fmt: skip
            return
        sender = first.sender_id
        if sender is None:
            log.info("telegram: skipped message %s without a sender", first.id)
            return
        chat_id, user_id = str(first.chat_id), str(sender)
        self._remember_peer(chat_id, first.input_chat)
        if self.access.check(user_id) is Access.DENIED:
            await self._refuse(first, user_id)
            return
        if time.time() - first.date.timestamp() > self.replay_window:  # caught up, too old
            log.info("telegram: message %s is older than the replay window; asked again", first.id)
            await self._reply(first, STALE)
            return
        text = "\n".join(m.message for m in messages if m.message)
        if await self._answer_command(first, text):
            return
        attachments = await self._attachments(first, messages)
        if attachments is None:
            return
        if not text and not attachments:
            log.info("telegram: skipped message %s with nothing in it", first.id)
            return
        inbound = Inbound(
            channel=self.name, chat_id=chat_id, user_id=user_id, text=text,
            attachments=attachments, message_id=str(first.id),
        )  # fmt: skip
        if await self.host.submit(inbound) is Admission.DENIED:
            await self._refuse(first, user_id)

    async def _answer_command(self, message: types.Message, text: str) -> bool:
        """Answer ``/start`` and ``/help``; skip any ``/command@other_bot`` (groups)."""
        word = text.split(maxsplit=1)[0] if text.startswith("/") else ""
        command, _, bot = word.partition("@")
        if bot and bot.lower() != self.link.username.lower():
            log.info("telegram: skipped %s, addressed to another bot", command)
            return True
        if command.lower() not in ("/start", "/help"):
            return False
        await self._reply(message, HELP.format(name=self.link.me.first_name or self.link.username))
        return True

    async def _attachments(
        self, first: types.Message, messages: list[types.Message]
    ) -> tuple[Attachment, ...] | None:
        """Describe every item; ``None`` when one is refused (and the user was told why)."""
        limit = self.config.max_download_bytes
        found = []
        for message in messages:
            kind = classify(message)
            if isinstance(kind, Unsupported):
                await self._reply(first, UNSUPPORTED.format(what=kind.what))
                return None
            if kind is None:
                continue
            size = declared_size(message)
            if size is not None and size > limit:
                log.info("telegram: refused %s of %d bytes in message %s", kind, size, message.id)
                await self._reply(first, TOO_BIG.format(size=size / 1e6, limit=limit / 1e6))
                return None
            found.append(attachment(message, kind, self.link, limit))
        return tuple(found)

    async def _refuse(self, message: types.Message, user_id: str) -> None:
        """At most one polite refusal per user and period, and only in private chats."""
        now = trio.current_time()
        last = self._refused_at.get(user_id)
        if not message.is_private or (last is not None and now - last < self.config.refusal_period):
            log.info("telegram: ignored a message from user %s (not allowed)", user_id)
            return
        if len(self._refused_at) >= MAX_REMEMBERED:
            period = self.config.refusal_period
            self._refused_at = {u: t for u, t in self._refused_at.items() if now - t < period}
        self._refused_at[user_id] = now
        log.info("telegram: refused user %s (not in allow_from)", user_id)
        await self._reply(message, REFUSAL.format(user_id=user_id))

    async def _reply(self, message: types.Message, text: str) -> None:
        chat = str(message.chat_id)
        peer = self._peer(chat)
        await self._deliver(chat, lambda: self.link.send_text(peer, text, [], None))

    # --- outbound ---------------------------------------------------------------------

    async def send(self, outbound: Outbound) -> None:
        link = self.link
        chat = outbound.chat_id
        peer = self._peer(chat)
        reply_to = _message_id(outbound.reply_to)
        for text, entities in formatting.messages(outbound.text):
            await self._deliver(chat, partial(self._send_formatted, peer, text, entities, reply_to))
            reply_to = None
        for audio in outbound.audio:
            data = await trio.Path(audio.path).read_bytes()
            await self._deliver(
                chat, partial(link.send_voice, peer, data, audio.duration, audio.mime_type)
            )

    async def _send_formatted(
        self, peer: Any, text: str, entities: list[Any], reply_to: int | None
    ) -> None:
        try:
            await self.link.send_text(peer, text, entities, reply_to)
        except errors.BadRequestError as error:
            if not entities:  # a flood wait is not a BadRequestError: _deliver handles it
                raise
            log.info("telegram: formatting rejected (%s); sending plain text", type(error).__name__)
            await self.link.send_text(peer, text, [], reply_to)

    async def _deliver(self, chat: str, attempt: Callable[[], Awaitable[None]]) -> None:
        """Send within this chat's pace, waiting out flood waits up to ``flood_wait_max``."""
        for _ in range(MAX_SEND_ATTEMPTS):
            await self._pace(chat)
            try:
                await attempt()
                return
            except errors.FloodWaitError as error:
                if error.seconds > self.config.flood_wait_max:
                    log.warning(
                        "telegram: Telegram asked to wait %d s before sending to chat %s "
                        "(more than flood_wait_max = %g s); the message was dropped",
                        error.seconds, chat, self.config.flood_wait_max,
                    )  # fmt: skip
                    return
                log.info("telegram: flood wait of %d s for chat %s", error.seconds, chat)
                after_wait = trio.current_time() + error.seconds
                self._next_send[chat] = max(self._next_send.get(chat, 0.0), after_wait)
            except (errors.UserIsBlockedError, errors.ChatWriteForbiddenError) as error:
                log.warning("telegram: cannot write to chat %s: %s", chat, type(error).__name__)
                return
        log.warning("telegram: gave up sending to chat %s after %d flood waits",
                    chat, MAX_SEND_ATTEMPTS)  # fmt: skip

    async def _pace(self, chat: str) -> None:
        """Take the chat's next free send time before waiting, so concurrent sends queue up."""
        now = trio.current_time()
        if len(self._next_send) >= MAX_REMEMBERED:
            self._next_send = {c: t for c, t in self._next_send.items() if t > now}
        slot = max(now, self._next_send.get(chat, now))
        self._next_send[chat] = slot + self.config.send_interval
        await trio.sleep_until(slot)

    def _remember_peer(self, chat: str, peer: types.TypeInputPeer | None) -> None:
        if peer is None:
            return
        self._peers[chat] = peer
        self._peers.move_to_end(chat)
        while len(self._peers) > MAX_REMEMBERED:
            self._peers.popitem(last=False)

    def _peer(self, chat: str) -> Any:
        """The input peer seen with the chat's messages; else its id for telethon to resolve."""
        return self._peers.get(chat) or int(chat)

    # --- activity ---------------------------------------------------------------------

    async def set_activity(self, chat_id: str, activity: Activity | None) -> None:
        """Keep "typing…" (or "recording…") visible until called with ``None``."""
        previous = self._activities.pop(chat_id, None)
        if previous is not None:
            previous.cancel()
        if activity is None or self._nursery is None:
            return
        action = "record-audio" if activity is Activity.RECORDING else "typing"
        scope = trio.CancelScope()
        self._activities[chat_id] = scope
        self._nursery.start_soon(self._show_activity, chat_id, action, scope)

    async def _show_activity(self, chat: str, action: str, scope: trio.CancelScope) -> None:
        try:
            with scope:
                while True:
                    try:
                        await self.link.send_action(self._peer(chat), action)
                    except (errors.RPCError, ConnectionError) as error:
                        log.debug("telegram: chat action for %s failed: %s", chat, error)
                    await trio.sleep(self.config.typing_interval)
        finally:
            if self._activities.get(chat) is scope:
                del self._activities[chat]


def _message_id(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None
