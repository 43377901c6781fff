"""Finding and loading plugins: entry points of group ``nanobot`` and the built-ins.

Each entry point is loaded on its own: one that fails to import, misspells a
hook, or needs a different core is recorded with its error and skipped, and
everything else keeps working.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from importlib import metadata

import pluggy
from attrs import define, field, frozen
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

from . import hookspecs
from .version import __version__

GROUP = "nanobot"
ENV_ALLOW = "NANOBOT_LOAD_PLUGINS"
CORE_DISTRIBUTION = "nanobot-core"

# Registered exactly like a third-party plugin, after the entry points.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "nanobot_core.builtins.console",
    "nanobot_core.builtins.echo",
    "nanobot_core.builtins.media",
)


@frozen
class PluginInfo:
    """What ``nanobot plugins`` shows for one plugin."""

    name: str
    distribution: str | None
    version: str | None
    hooks: tuple[str, ...] = ()
    status: str = "loaded"  # loaded | failed | blocked | incompatible
    error: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "hooks": list(self.hooks),
            "status": self.status,
            "error": self.error,
        }


@define
class Plugins:
    """A plugin manager and what happened to each plugin it was offered."""

    pm: pluggy.PluginManager = field(factory=lambda: _new_manager())
    infos: list[PluginInfo] = field(factory=list)

    @classmethod
    def load(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        entry_points: bool = True,
        extra: tuple[object, ...] = (),
    ) -> Plugins:
        """Load the entry points (honouring ``NANOBOT_LOAD_PLUGINS``), then built-ins.

        ``extra`` plugin objects (modules or instances) are registered after
        them; tests use it to add a plugin without installing it.
        """
        plugins = cls()
        env = os.environ if env is None else env
        if entry_points:
            allowed = _allow_list(env.get(ENV_ALLOW))
            for ep in sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name):
                if allowed is not None and ep.name not in allowed:
                    plugins.infos.append(_info_for(ep, status="blocked", error=f"not in {ENV_ALLOW}"))
                    continue
                plugins._load_entry_point(ep)
        for module_name in DEFAULT_PLUGINS:
            plugins.add(importlib.import_module(module_name), name=module_name.rsplit(".", 1)[1])
        for obj in extra:
            plugins.add(obj)
        return plugins

    def add(
        self, plugin: object, *, name: str | None = None, info: PluginInfo | None = None
    ) -> bool:
        """Register one plugin object; a failure is recorded, not raised."""
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        info = info or PluginInfo(name=name, distribution=None, version=None)
        try:
            self.pm.register(plugin, name=name)
        except ValueError as error:  # name already registered
            self.infos.append(_with(info, status="failed", error=str(error)))
            return False
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as error:
            self.pm.unregister(name=name)
            self.infos.append(_with(info, status="failed", error=_one_line(error)))
            return False
        hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(plugin) or ()))
        self.infos.append(_with(info, hooks=hooks))
        return True

    def _load_entry_point(self, ep: metadata.EntryPoint) -> None:
        info = _info_for(ep)
        reason = incompatibility(ep.dist)
        if reason is not None:
            self.infos.append(_with(info, status="incompatible", error=reason))
            return
        try:
            plugin = ep.load()
        except Exception as error:  # noqa: BLE001 - any import failure is the plugin's
            self.infos.append(
                _with(info, status="failed", error=f"{type(error).__name__}: {error}")
            )
            return
        self.add(plugin, name=ep.name, info=info)

    def failures(self) -> list[PluginInfo]:
        return [i for i in self.infos if i.status in ("failed", "incompatible")]


def incompatibility(dist: metadata.Distribution | None) -> str | None:
    """Why a plugin's declared ``nanobot-core`` requirement excludes this core, or None."""
    if dist is None:
        return None
    for text in dist.requires or ():
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.name.lower().replace("_", "-") != CORE_DISTRIBUTION:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        if not requirement.specifier.contains(Version(__version__), prereleases=True):
            return (
                f"needs {CORE_DISTRIBUTION}{requirement.specifier}, "
                f"but {CORE_DISTRIBUTION} {__version__} is installed"
            )
    return None


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("nanobot")
    pm.add_hookspecs(hookspecs)
    return pm


def _allow_list(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def _info_for(ep: metadata.EntryPoint, **changes: object) -> PluginInfo:
    dist = ep.dist
    info = PluginInfo(
        name=ep.name,
        distribution=dist.metadata["Name"] if dist else None,
        version=dist.version if dist else None,
    )
    return _with(info, **changes) if changes else info


def _with(info: PluginInfo, **changes: object) -> PluginInfo:
    import attrs

    return attrs.evolve(info, **changes)  # type: ignore[arg-type]


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


__all__ = ["DEFAULT_PLUGINS", "ENV_ALLOW", "GROUP", "PluginInfo", "Plugins"]
