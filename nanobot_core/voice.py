"""The voice policy: when a reply also goes out as voice notes, and what happens when it can't."""

from __future__ import annotations

import logging
from pathlib import Path

from attrs import frozen

from .errors import NanobotError, SpeechError, TurnRefused
from .messages import AttachmentKind, AudioFile, Inbound
from .protocols import SpeechSynthesizer

log = logging.getLogger(__name__)


def wants_voice(mode: str, chat_setting: str | None, inbound: Inbound) -> bool:
    """``/voice on|off`` for the chat wins; else ``[voice] reply``: off, inbound or always."""
    if chat_setting == "on":
        return True
    if chat_setting == "off":
        return False
    if mode == "always":
        return True
    if mode == "inbound":
        return any(a.kind is AttachmentKind.VOICE for a in inbound.attachments)
    return False


@frozen
class VoiceResult:
    audio: tuple[AudioFile, ...] = ()
    note: str | None = None  # why there is no voice reply, for the user


async def synthesize(
    synthesizer: SpeechSynthesizer | None, text: str, workdir: Path
) -> VoiceResult:
    """Audio for ``text``; on any failure the text still goes out, with a short note."""
    if synthesizer is None:
        return VoiceResult(note="no voice reply: no speech synthesizer is configured.")
    try:
        return VoiceResult(audio=tuple(await synthesizer.synthesize(text, workdir)))
    except (SpeechError, TurnRefused) as error:
        log.info("no voice reply: %s", error)
        return VoiceResult(note=f"no voice reply: {error}")
    except NanobotError as error:
        log.warning("speech synthesis failed: %s", error)
        return VoiceResult(note=f"no voice reply: {error}")
    except Exception:
        log.exception("speech synthesizer crashed")
        return VoiceResult(note="no voice reply: the speech synthesizer failed.")
