"""The ``openai`` chat model: ``ChatRequest`` in, ``/v1/chat/completions``, ``ChatReply`` out."""

from __future__ import annotations

import base64
from collections.abc import Collection, Mapping
from typing import Any

from attrs import define, field

from nanobot_core import (
    ChatMessage,
    ChatReply,
    ChatRequest,
    ImagePart,
    ProviderError,
    Secret,
    TextPart,
    ToolCall,
    ToolSpec,
)
from nanobot_core.text import json_depth, replace_surrogates

from .client import ClientOwner, Endpoint, malformed
from .config import OpenAIConfig

MAX_DEPTH = 64
"""How deeply an echoed field (``reasoning_details``) may nest; real ones nest 3 levels."""

CUT_BY_LENGTH = "[The reply was cut off here: it reached the length limit.]"
CUT_BEFORE_TOOLS = (
    "[The reply was cut off at the length limit before its tool calls were complete.]"
)
FILTERED = "[The server's content filter withheld the rest of this reply.]"
FILTERED_ALL = "The server's content filter withheld this reply."


@define
class OpenAIChatModel(ClientOwner):
    """A chat model on one SDK client, opened by ``async with`` and reused for every call.

    ``temperature``, ``max_tokens`` and ``max_completion_tokens`` come from the
    config and are sent only when set; ``request.model`` is the model id.
    """

    config: OpenAIConfig
    key: Secret = field(repr=False)

    @property
    def endpoint(self) -> Endpoint:
        return self.config.endpoint(self.key)

    async def complete(self, request: ChatRequest) -> ChatReply:
        client = self.client
        with self.translating("chat"):
            completion = await client.chat.completions.create(**self.parameters(request))
        return self._reply(completion)

    def parameters(self, request: ChatRequest) -> dict[str, Any]:
        """The body of the chat completion request."""
        echo = self.config.echo_reasoning
        params: dict[str, Any] = {
            "model": request.model,
            "messages": [encode_message(m, echo) for m in request.messages],
        }
        if request.tools:
            params["tools"] = [encode_tool(t) for t in request.tools]
        if self.config.temperature is not None:
            params["temperature"] = self.config.temperature
        if self.config.max_tokens is not None:
            params["max_tokens"] = self.config.max_tokens
        if self.config.max_completion_tokens is not None:
            params["max_completion_tokens"] = self.config.max_completion_tokens
        return params

    def _reply(self, completion: Any) -> ChatReply:
        endpoint = self.endpoint
        try:
            return decode_reply(completion, self.config.echo_reasoning)
        except NoChoices:
            raise ProviderError(
                f"{endpoint.server}: the server sent no answer (a chat completion without choices)"
            ) from None
        except TooDeep:
            raise malformed(endpoint, f"a reply nested over {MAX_DEPTH} levels deep") from None
        except (AttributeError, IndexError, TypeError, ValueError):
            raise malformed(endpoint, "a reply that is not a chat completion") from None


class NoChoices(ValueError):
    """A completion with ``choices: []``."""


class TooDeep(ValueError):
    """An echoed field nested deeper than ``MAX_DEPTH``."""


def encode_message(message: ChatMessage, echo: Collection[str] = ()) -> dict[str, Any]:
    """One message in the chat completions format.

    Of the message's ``extra`` fields only those named in ``echo``
    (``echo_reasoning``) are sent back: some servers reject fields they did
    not expect (Groq refuses ``reasoning_content``).
    """
    encoded: dict[str, Any] = {"role": message.role}
    if message.role == "assistant":
        encoded["content"] = message.text or (None if message.tool_calls else "")
        if message.tool_calls:
            encoded["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                }
                for call in message.tool_calls
            ]
    elif message.role == "tool":
        encoded["tool_call_id"] = message.tool_call_id
        encoded["content"] = message.text
    else:
        encoded["content"] = _content(message)
    for name, value in message.extra.items():
        if name in echo:
            encoded.setdefault(name, value)
    return encoded


def _content(message: ChatMessage) -> str | list[dict[str, Any]]:
    # Plain text stays a string: every compatible server accepts that form.
    if all(isinstance(part, TextPart) for part in message.content):
        return message.text
    parts: list[dict[str, Any]] = []
    for part in message.content:
        if isinstance(part, TextPart):
            parts.append({"type": "text", "text": part.text})
        elif isinstance(part, ImagePart):
            data = base64.b64encode(part.data).decode("ascii")
            url = f"data:{part.mime_type};base64,{data}"
            parts.append({"type": "image_url", "image_url": {"url": url}})
    return parts


def encode_tool(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": dict(tool.parameters),
        },
    }


def decode_reply(completion: Any, echo: Collection[str] = ()) -> ChatReply:
    """Text, function tool calls and the ``echo`` fields of the first choice's message.

    A refusal becomes the reply's text; a reply cut by the length limit or a
    content filter says so at its end. Text is made encodable (lone surrogates
    replaced). Raises ``NoChoices``, ``TooDeep``, or ``TypeError``/``ValueError``
    when the document is not a chat completion.
    """
    choices = completion.choices
    if not isinstance(choices, list):
        raise TypeError("choices is not a list")
    if not choices:
        raise NoChoices
    choice = choices[0]
    message = choice.message
    text = _text(message.content) or _text(getattr(message, "refusal", None))
    calls = _tool_calls(message)
    reason = getattr(choice, "finish_reason", None)
    if reason == "length":
        text = _append(text, CUT_BEFORE_TOOLS if calls else CUT_BY_LENGTH)
        calls = []  # arguments cut mid-way are not worth running
    elif reason == "content_filter":
        text = _append(text, FILTERED) if text.strip() else FILTERED_ALL
    return ChatReply(text=text, tool_calls=tuple(calls), extra=_extra(message, echo))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError("content is not text")
    return replace_surrogates(value)


def _append(text: str, note: str) -> str:
    return f"{text.rstrip()}\n\n{note}" if text.strip() else note


def _tool_calls(message: Any) -> list[ToolCall]:
    calls = []
    for call in message.tool_calls or ():
        function = getattr(call, "function", None)
        if function is None:
            continue  # a custom (non-function) tool call: nanobot offers none
        name, arguments = function.name, function.arguments
        if not isinstance(name, str) or not isinstance(arguments, str):
            raise TypeError("tool call without name or arguments")
        calls.append(
            ToolCall(
                id=replace_surrogates(str(call.id)),
                name=replace_surrogates(name),
                arguments=replace_surrogates(arguments),
            )
        )
    return calls


def _extra(message: Any, echo: Collection[str]) -> Mapping[str, Any]:
    """The fields named in ``echo`` (``reasoning_details``...), when the message has them."""
    extra = getattr(message, "model_extra", None) or {}
    kept = {name: value for name, value in extra.items() if name in echo and value is not None}
    for value in kept.values():
        if json_depth(value, MAX_DEPTH) > MAX_DEPTH:
            raise TooDeep
    return kept
