"""The ``openai`` chat model: ``ChatRequest`` in, ``/v1/chat/completions``, ``ChatReply`` out."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from attrs import define

from nanobot_core import (
    ChatMessage,
    ChatReply,
    ChatRequest,
    ImagePart,
    TextPart,
    ToolCall,
    ToolSpec,
)

from .client import ClientOwner, malformed


@define
class OpenAIChatModel(ClientOwner):
    """A chat model on one SDK client, opened by ``async with`` and reused for every call.

    ``temperature`` and ``max_tokens`` come from the config and are sent only
    when set; ``request.model`` is the model id.
    """

    async def complete(self, request: ChatRequest) -> ChatReply:
        client = self.client
        with self.translating("chat"):
            completion = await client.chat.completions.create(**self.parameters(request))
        return self._reply(completion)

    def parameters(self, request: ChatRequest) -> dict[str, Any]:
        """The body of the chat completion request."""
        params: dict[str, Any] = {
            "model": request.model,
            "messages": [encode_message(m) for m in request.messages],
        }
        if request.tools:
            params["tools"] = [encode_tool(t) for t in request.tools]
        if self.config.temperature is not None:
            params["temperature"] = self.config.temperature
        if self.config.max_tokens is not None:
            params["max_tokens"] = self.config.max_tokens
        return params

    def _reply(self, completion: Any) -> ChatReply:
        try:
            return decode_reply(completion)
        except (AttributeError, IndexError, TypeError, ValueError):
            raise malformed(self.config, "a reply that is not a chat completion") from None


def encode_message(message: ChatMessage) -> dict[str, Any]:
    """One message in the chat completions format; ``extra`` fields are sent back as they came."""
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


def decode_reply(completion: Any) -> ChatReply:
    """Text, function tool calls and extra message fields of the first choice.

    Raises ``TypeError``/``ValueError`` when the document is not a chat completion.
    """
    choices = completion.choices
    if not isinstance(choices, list) or not choices:
        raise ValueError("no choices")
    message = choices[0].message
    content = message.content
    if content is not None and not isinstance(content, str):
        raise TypeError("content is not text")
    calls = []
    for call in message.tool_calls or ():
        function = getattr(call, "function", None)
        if function is None:
            continue  # a custom (non-function) tool call: nanobot offers none
        name, arguments = function.name, function.arguments
        if not isinstance(name, str) or not isinstance(arguments, str):
            raise TypeError("tool call without name or arguments")
        calls.append(ToolCall(id=str(call.id), name=name, arguments=arguments))
    return ChatReply(text=content or "", tool_calls=tuple(calls), extra=_extra(message))


def _extra(message: Any) -> Mapping[str, Any]:
    """Fields the SDK does not know (``reasoning_content``, ``reasoning_details``...)."""
    extra = getattr(message, "model_extra", None) or {}
    return {name: value for name, value in extra.items() if value is not None}
