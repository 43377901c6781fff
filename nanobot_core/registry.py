"""What the plugins registered: names, factories and config classes per kind."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Protocol

import attrs
import pluggy
from attrs import define, frozen

from .errors import PluginError


class Kind(enum.Enum):
    """A kind of registered capability: its hook and its config table."""

    CHANNEL = ("register_channels", "channels", "channel")
    CHAT_MODEL = ("register_chat_models", "providers", "chat model")
    TRANSCRIBER = ("register_transcribers", "providers", "transcriber")
    SPEECH = ("register_speech_synthesizers", "speech", "speech synthesizer")
    MEDIA = ("register_media_processors", "media", "media processor")
    TOOL = ("register_tools", "tools", "tool")

    def __init__(self, hook: str, table: str, label: str) -> None:
        self.hook = hook
        self.table = table
        self.label = label


@attrs.frozen
class NoConfig:
    """The config class of a registration that takes no settings."""


class Register(Protocol):
    """The callback a ``register_*`` hook receives."""

    def __call__(
        self, name: str, factory: Callable[[Any, Any], Any], config: type | None = None
    ) -> None: ...


@frozen
class Registration:
    kind: Kind
    name: str
    factory: Callable[[Any, Any], Any]
    config: type
    plugin: str


@define
class Registry:
    """Every registration, collected once by calling each plugin's hooks."""

    entries: dict[Kind, dict[str, Registration]] = attrs.Factory(
        lambda: {kind: {} for kind in Kind}
    )
    problems: list[str] = attrs.Factory(list)

    @classmethod
    def collect(cls, pm: pluggy.PluginManager) -> Registry:
        registry = cls()
        for kind in Kind:
            caller = getattr(pm.hook, kind.hook)
            for impl in caller.get_hookimpls():
                registry._call(kind, impl)
        return registry

    def _call(self, kind: Kind, impl: pluggy.HookImpl) -> None:
        def register(name: str, factory: Callable[[Any, Any], Any], config: type | None = None) -> None:
            self.add(Registration(kind, name, factory, config or NoConfig, impl.plugin_name))

        try:
            impl.function(register=register)
        except PluginError as error:
            self.problems.append(str(error))
        except Exception as error:  # one broken plugin never stops the others
            self.problems.append(
                f"plugin {impl.plugin_name!r} failed in {kind.hook}: "
                f"{type(error).__name__}: {error}"
            )

    def add(self, registration: Registration) -> None:
        kind, name = registration.kind, registration.name
        if not name or "/" in name:
            raise PluginError(
                f"plugin {registration.plugin!r} registered {kind.label} {name!r}: "
                "a name must be non-empty and contain no '/'"
            )
        if not attrs.has(registration.config):
            raise PluginError(
                f"plugin {registration.plugin!r} registered {kind.label} {name!r} "
                "with a config class that is not an attrs class"
            )
        existing = self.entries[kind].get(name)
        if existing is not None:
            raise PluginError(
                f"{kind.label} {name!r} is registered by both plugin {existing.plugin!r} "
                f"and plugin {registration.plugin!r}"
            )
        self.entries[kind][name] = registration

    def get(self, kind: Kind, name: str) -> Registration | None:
        return self.entries[kind].get(name)

    def names(self, kind: Kind) -> list[str]:
        return sorted(self.entries[kind])
