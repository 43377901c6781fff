"""The ``echo`` chat model: describes what it received, for demos and tests without a key."""

from __future__ import annotations

from typing import Any

from attrs import frozen

from ..hookspecs import hookimpl
from ..messages import ChatReply, ChatRequest, ImagePart, TextPart
from ..registry import NoConfig, Register


@frozen
class EchoModel:
    """Replies with a deterministic description of the last user message.

    ``echo: <text>`` followed by ``(images: N)`` when image parts came along.
    Transcripts and other text parts are part of the echoed text. It never
    calls tools.
    """

    async def complete(self, request: ChatRequest) -> ChatReply:
        user = next((m for m in reversed(request.messages) if m.role == "user"), None)
        if user is None:
            return ChatReply(text="echo: (nothing)")
        texts = [p.text for p in user.content if isinstance(p, TextPart)]
        images = sum(isinstance(p, ImagePart) for p in user.content)
        reply = "echo: " + ("\n".join(texts) if texts else "(no text)")
        if images:
            reply += f"\n(images: {images})"
        return ChatReply(text=reply)


def make_echo(config: NoConfig, host: Any) -> EchoModel:
    return EchoModel()


@hookimpl
def register_chat_models(register: Register) -> None:
    register("echo", make_echo)
