"""The objects the configuration enables, built by calling the plugins' factories."""

from __future__ import annotations

import logging
from typing import Any

from attrs import define, field

from .config import Config
from .errors import ConfigError, NanobotError
from .protocols import (
    Channel,
    ChatModel,
    Host,
    MediaProcessor,
    SpeechSynthesizer,
    Tool,
    ToolSet,
    Transcriber,
)
from .registry import Kind, Registry

log = logging.getLogger(__name__)

_PROTOCOLS: dict[Kind, type] = {
    Kind.CHANNEL: Channel,
    Kind.CHAT_MODEL: ChatModel,
    Kind.TRANSCRIBER: Transcriber,
    Kind.SPEECH: SpeechSynthesizer,
    Kind.MEDIA: MediaProcessor,
    Kind.TOOL: Tool,
}


@define
class Components:
    chat_model: ChatModel
    channels: dict[str, Channel] = field(factory=dict)
    transcriber: Transcriber | None = None
    synthesizer: SpeechSynthesizer | None = None
    media: dict[str, MediaProcessor] = field(factory=dict)  # attachment kind -> processor
    tools: dict[str, Tool] = field(factory=dict)
    toolsets: dict[str, ToolSet] = field(factory=dict)

    @classmethod
    def build(cls, config: Config, registry: Registry, host: Host) -> Components:
        """Call every enabled factory; raise ``ConfigError`` listing every failure."""
        errors: list[str] = []
        built: dict[tuple[Kind, str], Any] = {}
        for kind, name in config.plugins:
            registration = registry.get(kind, name)
            assert registration is not None
            try:
                obj = registration.factory(config.plugins[(kind, name)], host)
            except NanobotError as error:
                message = str(error)
                if not message.startswith(f"{kind.table}.{name}"):  # else it names its key
                    message = f"{kind.label} {name!r}: {message}"
                errors.append(message)
                continue
            except Exception as error:
                log.debug("factory of %s %r failed", kind.label, name, exc_info=True)
                errors.append(
                    f"{kind.label} {name!r} (plugin {registration.plugin!r}) failed to start: "
                    f"{type(error).__name__}: {error}"
                )
                continue
            if kind is Kind.TOOL and isinstance(obj, ToolSet) and not isinstance(obj, Tool):
                pass  # a tool set: its tools are known once it has started
            elif not isinstance(obj, _PROTOCOLS[kind]):
                errors.append(
                    f"{kind.label} {name!r} (plugin {registration.plugin!r}) does not implement "
                    f"the {_PROTOCOLS[kind].__name__} protocol"
                )
                continue
            built[(kind, name)] = obj
        media = _by_kind(built, errors)
        if errors:
            raise ConfigError("\n".join(errors))

        def one(kind: Kind, name: str | None) -> Any:
            return built.get((kind, name)) if name else None

        return cls(
            chat_model=built[(Kind.CHAT_MODEL, config.agent.model_provider)],
            channels={n: o for (k, n), o in built.items() if k is Kind.CHANNEL},
            transcriber=one(Kind.TRANSCRIBER, config.voice.transcriber),
            synthesizer=one(Kind.SPEECH, config.voice.synthesizer),
            media=media,
            tools={n: o for (k, n), o in built.items() if k is Kind.TOOL and isinstance(o, Tool)},
            toolsets={
                n: o for (k, n), o in built.items() if k is Kind.TOOL and not isinstance(o, Tool)
            },
        )

    def objects(self) -> list[object]:
        """Every distinct object but the channels (the runtime enters those it runs)."""
        candidates: list[object] = [
            self.chat_model,
            self.transcriber,
            self.synthesizer,
            *self.media.values(),
            *self.tools.values(),
            *self.toolsets.values(),
        ]
        unique: dict[int, object] = {}
        for obj in candidates:
            if obj is not None:
                unique.setdefault(id(obj), obj)
        return list(unique.values())


def _by_kind(built: dict[tuple[Kind, str], Any], errors: list[str]) -> dict[str, MediaProcessor]:
    owners: dict[str, str] = {}
    media: dict[str, MediaProcessor] = {}
    for (kind, name), processor in sorted(built.items(), key=lambda item: item[0][1]):
        if kind is not Kind.MEDIA:
            continue
        for attachment_kind in processor.kinds:
            key = str(attachment_kind)
            if key in owners:
                errors.append(
                    f"media processors {owners[key]!r} and {name!r} both handle {key!r} "
                    f"attachments; disable one with enabled = false"
                )
                continue
            owners[key] = name
            media[key] = processor
    return media
