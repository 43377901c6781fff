"""The objects the configuration enables, built by calling the plugins' factories."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from attrs import define, field, frozen

from .config import Config, make_converter, structure
from .errors import ConfigError, MediaError, NanobotError, Unavailable
from .messages import Attachment, AttachmentKind, Part
from .protocols import (
    Channel,
    ChatModel,
    Host,
    MediaContext,
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


@frozen
class Missing:
    """An enabled object whose factory raised ``Unavailable``: nanobot runs without it."""

    kind: Kind
    name: str
    reason: str
    configured: bool  # the user wrote its table: ``nanobot check`` fails

    @property
    def line(self) -> str:
        return f"{self.kind.label} {self.name!r} is unavailable: {self.reason}"


@define
class _StandIn:
    """Takes the attachment kinds of an unavailable media processor and says why."""

    kinds: frozenset[AttachmentKind]
    line: str
    capability: str = ""  # no rate limit is spent on a refusal

    async def process(
        self, path: Path, attachment: Attachment, context: MediaContext
    ) -> tuple[Part, ...]:
        raise MediaError(self.line)


@define
class Components:
    chat_model: ChatModel
    channels: dict[str, Channel] = field(factory=dict)
    transcriber: Transcriber | None = None
    synthesizer: SpeechSynthesizer | None = None
    media: dict[str, MediaProcessor] = field(factory=dict)  # attachment kind -> processor
    tools: dict[str, Tool] = field(factory=dict)
    missing: list[Missing] = field(factory=list)
    toolsets: dict[str, ToolSet] = field(factory=dict)

    @classmethod
    def build(cls, config: Config, registry: Registry, host: Host) -> Components:
        """Call every enabled factory; raise ``ConfigError`` listing every failure."""
        errors: list[str] = []
        built: dict[tuple[Kind, str], Any] = {}
        missing: list[Missing] = []
        stand_ins: dict[str, MediaProcessor] = {}
        for kind, name in config.plugins:
            registration = registry.get(kind, name)
            assert registration is not None
            try:
                obj = registration.factory(config.plugins[(kind, name)], host)
            except Unavailable as error:
                tables = getattr(config.core, kind.table, {})
                gone = Missing(kind, name, str(error), configured=name in tables)
                log.info("%s", gone.line)  # the CLI says it once, as a warning or error
                missing.append(gone)
                if kind is Kind.MEDIA and error.kinds:
                    known = {k.value for k in AttachmentKind}
                    kinds = frozenset(AttachmentKind(k) for k in error.kinds if k in known)
                    stand_in = _StandIn(kinds, gone.line)
                    stand_ins.update(dict.fromkeys(sorted(k.value for k in kinds), stand_in))
                continue
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
        media = {**stand_ins, **_by_kind(built, errors)}  # a working processor wins
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
            missing=missing,
        )

    def objects(self) -> list[object]:
        """Every distinct object but the channels (the runtime enters those it runs)."""
        candidates: list[object] = [
            self.chat_model,
            self.transcriber,
            self.synthesizer,
            *(m for m in self.media.values() if not isinstance(m, _StandIn)),
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


def unavailable(registry: Registry) -> list[Missing]:
    """Media processors and speech synthesizers that would be unavailable with their default
    settings (their factory raises ``Unavailable``): what ``nanobot plugins`` shows without
    reading a config. Factories start nothing; any other failure is not this one's to say."""
    found: list[Missing] = []
    converter = make_converter({})
    for kind in (Kind.MEDIA, Kind.SPEECH):
        for name in registry.names(kind):
            registration = registry.get(kind, name)
            assert registration is not None
            config, errors = structure(converter, {}, registration.config, f"{kind.table}.{name}")
            if errors:
                continue
            try:
                registration.factory(config, None)
            except Unavailable as error:
                found.append(Missing(kind, name, str(error), configured=False))
            except Exception:
                log.debug("factory of %s %r with its defaults", kind.label, name, exc_info=True)
    return found
