"""The commented starter configuration that ``nanobot init`` writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from .registry import Kind, Registry

CORE = """\
# nanobot configuration. Reference: docs/configuration.md
# A secret is a string, {{ env = "NAME" }} or {{ file = "PATH" }}; it is never printed.

[agent]
model = "echo/echo"                 # "<chat model>/<model id>", e.g. "openai/gpt-4o-mini"
system_prompt = "You are a helpful assistant."
max_tool_iterations = 10            # model calls per turn at most
history_messages = 40               # earlier messages sent with each turn

[voice]
reply = "inbound"                   # off | inbound (voice in, voice out) | always
{voice_lines}
[limits]                            # per user; "N/PERIOD"; admins are exempt
turn = "30/minute"
transcription = "20/minute"
speech = "10/minute"
video = "3/5 minutes"
scope = "channel"                   # channel: per channel | global: shared across channels

[storage]
# path = {storage}   # sessions database and channel state

[runtime]
max_concurrent_chats = 32
queue_size = 8                      # waiting messages per chat before senders wait
turn_timeout = 600                  # seconds
shutdown_grace = 3                  # seconds for replies in flight at shutdown
restart_delay = 1                   # seconds before a crashed channel restarts (doubling, max 60)

[channels.console]                  # `nanobot run` without other channels: a terminal REPL
"""


def render(registry: Registry, storage: Path) -> str:
    """The core sections, then a commented section for every installed plugin."""
    voice = []
    for kind, key in ((Kind.SPEECH, "synthesizer"), (Kind.TRANSCRIBER, "transcriber")):
        names = registry.names(kind)
        example = names[0] if names else "openai"
        installed = ", ".join(names) or "none installed"
        voice.append(f'# {key} = "{example}"' + " " * 8 + f"# installed: {installed}")
    voice.append('# language = "en"                  # hint for the transcriber')
    text = CORE.format(voice_lines="\n".join(voice) + "\n", storage=_toml(storage))
    seen: set[tuple[str, str]] = set()
    for kind in Kind:
        for name in registry.names(kind):
            table = (kind.table, name)
            if table == ("channels", "console") or table in seen:
                continue
            seen.add(table)
            registration = registry.get(kind, name)
            assert registration is not None
            if not attrs.fields(registration.config) and kind is not Kind.CHANNEL:
                continue  # nothing to set (the echo model)
            text += "\n" + _section(kind, name, registration.config, registration.plugin)
    return text


def _section(kind: Kind, name: str, config: type, plugin: str) -> str:
    header = f"# [{kind.table}.{name}]"
    lines = [f"{header:<35} # {kind.label} from plugin {plugin}"]
    for field in attrs.fields(config):
        key = field.alias or field.name
        value = _example(field)
        note = field.metadata.get("help", "")
        line = f"# {key} = {value}"
        lines.append(f"{line:<35} # {note}" if note else line)
    if kind in (Kind.MEDIA,):
        lines.append(f"{'# enabled = false':<35} # installed processors are on by default")
    return "\n".join(lines) + "\n"


def _example(field: attrs.Attribute[Any]) -> str:
    if "example" in field.metadata:
        return str(field.metadata["example"])
    default = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        default = default.factory() if not default.takes_self else None  # type: ignore[union-attr]
    if default is attrs.NOTHING or default is None:
        return "..."
    return _toml(default)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))
    if isinstance(value, list | tuple | frozenset | set):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))
