"""An MCP tool result as the text of a tool message (the core's tools return text)."""

from __future__ import annotations

import json
from typing import Any


def _size(data: str) -> int:
    return len(data) * 3 // 4


def render(content: list[Any], structured: Any = None) -> str:
    """Text blocks as they are; images, audio and blobs as a one-line placeholder.

    The core has no path for images in tool results yet, so an image is
    described, not shown to the model.
    """
    parts: list[str] = []
    for block in content:
        kind = getattr(block, "type", None)
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            parts.append(
                f"[{kind} {block.mime_type}, {_size(block.data)} bytes: not shown, "
                "this bot passes only text from tools to the model]"
            )
        elif kind == "resource_link":
            line = f"[resource link: {block.name} <{block.uri}>]"
            if getattr(block, "description", None):
                line += f" {block.description}"
            parts.append(line)
        elif kind == "resource":
            resource = block.resource
            text = getattr(resource, "text", None)
            if text is not None:
                parts.append(f"[resource {resource.uri}]\n{text}")
            else:
                size = _size(getattr(resource, "blob", ""))
                parts.append(f"[resource {resource.uri}: {size} bytes of binary data, not shown]")
        else:
            parts.append(f"[a {kind or 'unknown'} content block, not shown]")
    if not parts and structured is not None:
        parts.append(json.dumps(structured, ensure_ascii=False))
    return "\n".join(parts)


def cap(text: str, limit: int) -> str:
    """At most ``limit`` characters, saying where it was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[cut at {limit} characters of {len(text)}]"
