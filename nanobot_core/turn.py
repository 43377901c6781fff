"""One turn: from an inbound message to the reply sent, inside its own scope and workdir.

access (checked in ``Runtime.submit``) → commands → rate limit → media stage →
agent loop → voice policy → session store (with the inbox entry) → ``Channel.send``
→ inbox entry done.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from pathlib import Path

import trio
from attrs import define, evolve, frozen

from . import commands, voice
from .access import Access
from .activity import ActivityReporter
from .agent import Agent
from .commands import VOICE_SETTING
from .components import Components
from .config import Config
from .errors import NanobotError, TurnRefused
from .exceptiongroups import is_cancellation
from .inbox import Inbox, Ticket
from .limits import Limits
from .media import MediaStage
from .messages import (
    Activity,
    AudioFile,
    ChatMessage,
    Inbound,
    Outbound,
    Part,
    TextPart,
    TurnStatus,
)
from .protocols import Channel, ToolContext
from .sessions import SessionStore
from .workdir import Workdir, open_workdir

log = logging.getLogger(__name__)

INTERRUPTED = "Sorry, I was shut down before I could answer; please send that again later."


def conversation_key(inbound: Inbound) -> str:
    """One conversation per channel and chat (and console ``--session``)."""
    key = f"{inbound.channel}:{inbound.chat_id}"
    return f"{key}:{inbound.session}" if inbound.session else key


@frozen
class Reply:
    text: str
    status: TurnStatus = TurnStatus.OK
    audio: tuple[AudioFile, ...] = ()
    store: tuple[ChatMessage, ...] = ()  # the turn's messages for the session store


@define
class TurnRunner:
    config: Config
    components: Components
    agent: Agent
    media: MediaStage
    limits: Limits
    sessions: SessionStore
    inbox: Inbox
    send_guard: Callable[[], AbstractContextManager[None]]
    workdirs: Path | None = None  # the process's folder for workdirs (default: $TMPDIR)

    async def run(
        self, inbound: Inbound, access: Access, channel: Channel, ticket: Ticket | None = None
    ) -> None:
        """Run one turn to the end; every way it ends sends exactly one reply.

        Store, then show: the turn and its reply are committed (with the inbox
        entry) before the reply goes to the channel, so a reply the user saw is
        in the history even if the process dies right after.
        """
        activity = ActivityReporter(channel, inbound.chat_id)
        async with open_workdir(self.workdirs) as workdir:
            try:
                reply = await self._reply(inbound, access, workdir, activity)
            except BaseException as error:
                if not is_cancellation(error):
                    raise
                # shutdown (however the Cancelled arrives): say so within the grace, then go
                interrupted = _outbound(inbound, Reply(INTERRUPTED, TurnStatus.FAILED))
                await self.deliver(channel, ticket, interrupted)
                raise
            turn = (conversation_key(inbound), reply.store)
            await self.deliver(channel, ticket, _outbound(inbound, reply), turn)

    async def deliver(
        self,
        channel: Channel,
        ticket: Ticket | None,
        outbound: Outbound,
        turn: tuple[str, tuple[ChatMessage, ...]] | None = None,
        *,
        stored: bool = False,
    ) -> None:
        """Commit the reply (with ``turn``: conversation and messages), send it, mark it done.

        All of it under the runtime's guard: shielded, bounded by the grace at shutdown.
        A reply that could not be stored is sent with a line saying so, as a failure.
        ``stored``: the reply was committed before a restart; only send it again.
        """
        with self.send_guard():
            if not stored:
                outbound = await self._keep(ticket, outbound, turn)
            try:
                await channel.send(outbound)
            except Exception:
                log.exception("channel %s could not send a reply", outbound.channel)
                return  # the entry stays answered: the next start sends it again
            if ticket is not None:
                try:
                    await self.inbox.delivered(ticket)
                except Exception as error:  # the reply went out; a restart may repeat it
                    log.error("could not mark a reply delivered: %s", _reason(error))

    async def _keep(
        self,
        ticket: Ticket | None,
        outbound: Outbound,
        turn: tuple[str, tuple[ChatMessage, ...]] | None,
    ) -> Outbound:
        conversation, messages = turn or (f"{outbound.channel}:{outbound.chat_id}", ())
        try:
            await self.inbox.answered(ticket, outbound, (conversation, messages))
        except Exception as error:
            reason = _reason(error)
            log.error("could not store the turn of %s: %s", conversation, reason)
            return evolve(
                outbound,
                text=f"{outbound.text.rstrip()}\n\n(This answer could not be saved: {reason}.)",
                status=TurnStatus.FAILED,
            )
        return outbound

    async def _reply(
        self, inbound: Inbound, access: Access, workdir: Workdir, activity: ActivityReporter
    ) -> Reply:
        timeout = self.config.runtime.turn_timeout
        try:
            with trio.fail_after(timeout):
                return await self._answer(inbound, access, workdir, activity)
        except TurnRefused as error:
            return Reply(str(error), TurnStatus.REFUSED)
        except NanobotError as error:
            log.info("turn failed for %s: %s", conversation_key(inbound), error)
            return Reply(f"Sorry, I couldn't answer: {error}", TurnStatus.FAILED)
        except trio.TooSlowError:
            log.warning("turn timed out after %s s for %s", timeout, conversation_key(inbound))
            return Reply(
                f"Sorry, that took longer than {timeout:g} seconds and was stopped.",
                TurnStatus.FAILED,
            )
        except Exception:
            log.exception("turn crashed for %s", conversation_key(inbound))
            return Reply(
                "Sorry, something went wrong on my side; the details are in the log.",
                TurnStatus.FAILED,
            )

    async def _answer(
        self, inbound: Inbound, access: Access, workdir: Workdir, activity: ActivityReporter
    ) -> Reply:
        conversation = conversation_key(inbound)
        command = commands.parse(inbound.text)
        if command is not None and not inbound.attachments:
            return Reply(await self._command(command, conversation))

        def check(capability: str) -> None:
            if access is not Access.ADMIN:
                self.limits.check(capability, channel=inbound.channel, user_id=inbound.user_id)

        check("turn")
        parts: list[Part] = [TextPart(inbound.text)] if inbound.text.strip() else []
        notes: tuple[str, ...] = ()
        if inbound.attachments:
            media = await self.media.prepare(
                inbound.attachments,
                workdir=await workdir.path(),
                check=check,
                transcribe=self._transcriber(check),
                activity=activity,
            )
            parts += media.parts
            notes = media.notes
            if notes and not media.parts:  # no attachment usable: refused before any token
                return Reply("\n".join(notes), TurnStatus.REFUSED)
        if not parts:
            return Reply("I received an empty message.")
        # What was left out is named once, appended to the reply below; the model is
        # not told, so it cannot repeat it and the user never reads it twice.
        user = ChatMessage(role="user", content=tuple(parts))
        history = await self.sessions.history(conversation, self.config.agent.history_messages)
        context = ToolContext(
            channel=inbound.channel,
            chat_id=inbound.chat_id,
            user_id=inbound.user_id,
            workdir=await workdir.path() if self.agent.tools else Path(),
            admin=access is Access.ADMIN or activity.channel.access.everyone,  # operator
        )
        async with activity.during(Activity.TYPING):
            result = await self.agent.reply(history, user, context)
        text = result.text
        if notes:
            text += "\n\n(" + "; ".join(notes) + ")"
        audio: tuple[AudioFile, ...] = ()
        if await self._wants_voice(conversation, inbound):
            spoken = await self._speak(result.text, await workdir.path(), check, activity)
            audio = spoken.audio
            if spoken.note:
                text += f"\n\n({spoken.note})"
        return Reply(text, TurnStatus.OK, audio, store=(user, ChatMessage.of("assistant", text)))

    async def _wants_voice(self, conversation: str, inbound: Inbound) -> bool:
        if self.components.synthesizer is None:
            return False  # /voice on says so when it is switched on
        setting = await self.sessions.get_setting(conversation, VOICE_SETTING)
        return voice.wants_voice(self.config.voice.reply, setting, inbound)

    async def _speak(
        self,
        text: str,
        workdir: Path,
        check: Callable[[str], None],
        activity: ActivityReporter,
    ) -> voice.VoiceResult:
        try:
            check("speech")
        except TurnRefused as error:
            return voice.VoiceResult(note=f"no voice reply: {error}")
        async with activity.during(Activity.RECORDING):
            return await voice.synthesize(self.components.synthesizer, text, workdir)

    def _transcriber(self, check: Callable[[str], None]) -> Callable[[Path], Awaitable[str]] | None:
        transcriber = self.components.transcriber
        if transcriber is None:
            return None
        language = self.config.voice.language

        async def transcribe(path: Path) -> str:
            check("transcription")
            return await transcriber.transcribe(path, language=language)

        return transcribe

    async def _command(self, command: commands.Command, conversation: str) -> str:
        if (answer := commands.immediate_answer(command)) is not None:
            return answer
        if command.name == "reset":
            await self.sessions.reset(conversation)
            return "Conversation cleared. What shall we talk about?"
        if command.name == "voice":
            if command.argument in ("on", "off"):
                await self.sessions.set_setting(conversation, VOICE_SETTING, command.argument)
                if command.argument == "on" and self.components.synthesizer is None:
                    return "Voice replies are on, but no speech synthesizer is configured."
                return f"Voice replies are {command.argument}."
            setting = await self.sessions.get_setting(conversation, VOICE_SETTING)
            mode = setting or f"{self.config.voice.reply} (the default)"
            return f"Voice replies: {mode}. Use /voice on or /voice off."
        return commands.HELP


def _reason(error: BaseException) -> str:
    """One line for the log and the user: the OS's or SQLite's words, never a traceback."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _outbound(inbound: Inbound, reply: Reply) -> Outbound:
    return Outbound(
        channel=inbound.channel,
        chat_id=inbound.chat_id,
        text=reply.text,
        audio=reply.audio,
        reply_to=inbound.message_id,
        status=reply.status,
    )
