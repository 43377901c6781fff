"""What the plugins registered: names, factories and config classes per kind."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Protocol

import attrs
import pluggy
from attrs import define, frozen

from .errors import PluginError
from .hookspecs import DEPRECATED_HOOKS


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
    """Every registration, collected once by calling each plugin's hooks.

    One plugin's mistake never stops the others: a register hook that raises
    registers nothing from that call, and a bad or clashing registration is
    skipped; each is recorded in ``problems`` (and per plugin in
    ``by_plugin``) as one line naming the plugin.
    """

    entries: dict[Kind, dict[str, Registration]] = attrs.Factory(
        lambda: {kind: {} for kind in Kind}
    )
    problems: list[str] = attrs.Factory(list)
    by_plugin: dict[str, list[str]] = attrs.Factory(dict)

    @classmethod
    def collect(cls, pm: pluggy.PluginManager) -> Registry:
        registry = cls()
        for kind in Kind:
            for hook in (kind.hook, *_aliases(kind)):
                caller = getattr(pm.hook, hook, None)
                for impl in caller.get_hookimpls() if caller is not None else ():
                    registry._call(kind, hook, impl)
        return registry

    def _call(self, kind: Kind, hook: str, impl: pluggy.HookImpl) -> None:
        plugin = impl.plugin_name
        if impl.hookwrapper or impl.wrapper:
            self._problem(plugin, f"plugin {plugin!r} implements {hook} as a wrapper; it must not")
            return
        made: list[Registration] = []

        def register(
            name: str, factory: Callable[[Any, Any], Any], config: type | None = None
        ) -> None:
            made.append(Registration(kind, name, factory, config or NoConfig, plugin))

        try:
            impl.function(*(register for _ in impl.argnames))
        except Exception as error:  # one broken plugin never stops the others
            self._problem(
                plugin, f"plugin {plugin!r} failed in {hook}: {type(error).__name__}: {error}"
            )
            return
        for registration in made:
            try:
                self.add(registration)
            except PluginError as error:
                self._problem(plugin, str(error))

    def _problem(self, plugin: str, message: str) -> None:
        self.problems.append(message)
        self.by_plugin.setdefault(plugin, []).append(message)

    def add(self, registration: Registration) -> None:
        """Add one registration; ``PluginError`` when it is invalid or its name is taken."""
        kind, name = registration.kind, registration.name
        if not isinstance(name, str) or not name or "/" in name:
            raise PluginError(
                f"plugin {registration.plugin!r} registered {kind.label} {name!r}: "
                "a name must be a non-empty string without '/'"
            )
        if not callable(registration.factory):
            raise PluginError(
                f"plugin {registration.plugin!r} registered {kind.label} {name!r} "
                "with a factory that is not callable"
            )
        if not (isinstance(registration.config, type) and attrs.has(registration.config)):
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


def _aliases(kind: Kind) -> tuple[str, ...]:
    """Deprecated hooks that register this kind (the loader warned when they were registered)."""
    return tuple(old for old, d in DEPRECATED_HOOKS.items() if d.new == kind.hook)
