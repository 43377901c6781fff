"""Finding and loading plugins: entry points of group ``nanobot`` and the built-ins.

Each entry point is loaded on its own: one that needs a different core, fails
to import, misspells a hook or takes a name already in use is recorded with a
one-line reason and skipped, and everything else keeps working.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import os
import warnings
from collections.abc import Iterable, Mapping
from importlib import metadata

import attrs
import pluggy
from attrs import define, field, frozen
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from . import hookspecs
from .deprecations import Deprecations, PluginDeprecationWarning
from .registry import Registry
from .version import __version__

GROUP = "nanobot"
ENV_ALLOW = "NANOBOT_LOAD_PLUGINS"
CORE_DISTRIBUTION = "nanobot-core"

# Registered exactly like a third-party plugin, before the entry points.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "nanobot_core.builtins.console",
    "nanobot_core.builtins.echo",
    "nanobot_core.builtins.media",
)

log = logging.getLogger(__name__)


@frozen
class PluginInfo:
    """What ``nanobot plugins`` shows for one plugin.

    ``status`` is ``loaded``, ``failed`` (``error`` says why), ``blocked``
    (left out by ``NANOBOT_LOAD_PLUGINS``) or ``incompatible`` (its
    ``nanobot-core`` requirement excludes the running core; not imported).
    """

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
    deprecations: Deprecations = field(factory=Deprecations)

    @classmethod
    def load(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        entry_points: bool = True,
        extra: tuple[object, ...] = (),
    ) -> Plugins:
        """Register the built-ins, then the entry points (honouring ``NANOBOT_LOAD_PLUGINS``).

        Built-ins come first so that no installed plugin can displace the
        console channel or the echo model by taking their names; a clash is
        reported on the newcomer. ``extra`` plugin objects (modules or
        instances) are registered last; tests use it to add a plugin without
        installing it.
        """
        plugins = cls()
        env = os.environ if env is None else env
        for module_name in DEFAULT_PLUGINS:
            info = PluginInfo(
                name=module_name.rsplit(".", 1)[1],
                distribution=CORE_DISTRIBUTION,
                version=__version__,
            )
            plugins.add(importlib.import_module(module_name), name=info.name, info=info)
        if entry_points:
            plugins._load_entry_points(_allow_list(env.get(ENV_ALLOW)))
        for obj in extra:
            plugins.add(obj)
        return plugins

    def add(
        self, plugin: object, *, name: str | None = None, info: PluginInfo | None = None
    ) -> bool:
        """Register one plugin object; a failure is recorded in ``infos``, not raised."""
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        info = info or PluginInfo(name=name, distribution=None, version=None)
        taken = self.pm.get_plugin(name)
        if taken is not None or self.pm.is_blocked(name):
            self.infos.append(_with(info, status="failed", error=self._clash(name, info)))
            return False
        if plugin in self.pm.get_plugins():
            other_name = self.pm.get_name(plugin)
            error = f"the same plugin object is already loaded as {other_name!r}"
            self.infos.append(_with(info, status="failed", error=error))
            return False
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                self.pm.register(plugin, name=name)
            except Exception as error:  # invalid hook signature, already registered...
                self.infos.append(_with(info, status="failed", error=_register_error(error)))
                return False
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as error:
            unknown = [c.name for c in self.pm.get_hookcallers(plugin) or () if not c.has_spec()]
            self.pm.unregister(name=name)
            reason = _unknown_hooks_error(unknown) if unknown else _one_line(str(error))
            self.infos.append(_with(info, status="failed", error=reason))
            return False
        try:
            self._rewarn(name, caught)
        except Warning as error:  # warnings are errors here (-W error): this plugin fails alone
            self.pm.unregister(name=name)
            self.infos.append(_with(info, status="failed", error=_one_line(str(error))))
            return False
        hooks = tuple(sorted(h.name for h in self.pm.get_hookcallers(plugin) or ()))
        self.infos.append(_with(info, hooks=hooks))
        return True

    def failures(self) -> list[PluginInfo]:
        """The plugins that were offered but could not be loaded."""
        return [i for i in self.infos if i.status in ("failed", "incompatible")]

    def collect(self) -> Registry:
        """Call every plugin's register hooks; a plugin with a problem is marked failed.

        The registry keeps what the plugin registered without problems.
        """
        registry = Registry.collect(self.pm)
        self.infos = [
            _with(i, status="failed", error="; ".join(registry.by_plugin[i.name]))
            if i.status == "loaded" and i.name in registry.by_plugin
            else i
            for i in self.infos
        ]
        return registry

    def _load_entry_points(self, allowed: set[str] | None) -> None:
        found = sorted(metadata.entry_points(group=GROUP), key=lambda e: e.name)
        for ep in found:
            if allowed is not None and not _allowed(ep, allowed):
                self.infos.append(_info_for(ep, status="blocked", error=f"not in {ENV_ALLOW}"))
                continue
            self._load_entry_point(ep)
        if allowed:
            names = {ep.name for ep in found}
            dists = {_dist_name(ep) for ep in found}
            for name in sorted(allowed):
                if name in names or canonicalize_name(name) in dists:
                    continue
                log.warning("%s names %r, but no installed plugin has that name", ENV_ALLOW, name)

    def _load_entry_point(self, ep: metadata.EntryPoint) -> None:
        info = _info_for(ep)
        reason = incompatibility(ep.dist)
        if reason is not None:
            self.infos.append(_with(info, status="incompatible", error=reason))
            return
        try:
            plugin = ep.load()
        except (Exception, SystemExit) as error:  # any import failure is the plugin's
            self.infos.append(_with(info, status="failed", error=_import_error(error)))
            return
        self.add(plugin, name=ep.name, info=info)

    def _clash(self, name: str, info: PluginInfo) -> str:
        other = next((i for i in self.infos if i.name == name and i.status == "loaded"), None)
        first = other.distribution if other and other.distribution else "another plugin"
        second = info.distribution or "this plugin"
        return f"plugin name {name!r} is used by both {first} and {second}; only the first loads"

    def _rewarn(self, name: str, caught: Iterable[warnings.WarningMessage]) -> None:
        """Re-issue the warnings raised while registering, deprecations with the plugin's name."""
        for w in caught:
            message = w.message
            if isinstance(message, PluginDeprecationWarning) and message.deprecation:
                self.deprecations.warn(name, message.deprecation, where=(w.filename, w.lineno))
            else:
                warnings.warn_explicit(message, w.category, w.filename, w.lineno)


def incompatibility(dist: metadata.Distribution | None) -> str | None:
    """Why a plugin's declared ``nanobot-core`` requirement excludes this core, or None.

    This is the check pip makes at install time, made again at load time: a
    plugin installed with ``--no-deps`` or left from an older environment is
    caught here. A plugin that declares no requirement on the core is loaded.
    """
    if dist is None:
        return None
    try:
        running = Version(__version__)
    except InvalidVersion:
        return None
    for text in dist.requires or ():
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if canonicalize_name(requirement.name) != CORE_DISTRIBUTION:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        if not requirement.specifier.contains(running, prereleases=True):
            return (
                f"needs {CORE_DISTRIBUTION}{requirement.specifier}, "
                f"but {CORE_DISTRIBUTION} {__version__} is running"
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


def _allowed(ep: metadata.EntryPoint, allowed: set[str]) -> bool:
    """An entry point is allowed by its own name or its distribution's name."""
    return ep.name in allowed or _dist_name(ep) in {canonicalize_name(a) for a in allowed}


def _dist_name(ep: metadata.EntryPoint) -> str:
    return canonicalize_name(ep.dist.metadata["Name"]) if ep.dist else ""


def _info_for(ep: metadata.EntryPoint, **changes: object) -> PluginInfo:
    dist = ep.dist
    info = PluginInfo(
        name=ep.name,
        distribution=dist.metadata["Name"] if dist else None,
        version=dist.version if dist else None,
    )
    return _with(info, **changes) if changes else info


def _with(info: PluginInfo, **changes: object) -> PluginInfo:
    return attrs.evolve(info, **changes)  # type: ignore[arg-type]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _import_error(error: BaseException) -> str:
    detail = _one_line(str(error))
    return f"import failed: {type(error).__name__}" + (f": {detail}" if detail else "")


def _register_error(error: Exception) -> str:
    return _one_line(str(error))


def _unknown_hooks_error(names: list[str]) -> str:
    """``check_pending``'s complaint as one line, with the closest real hook name."""
    known = [n for n in dir(hookspecs) if n.startswith("register_")]
    parts = []
    for name in sorted(names):
        close = difflib.get_close_matches(name, known, n=1)
        parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return f"unknown hook {', '.join(parts)}: not a nanobot hook (see docs/hooks.md)"


__all__ = ["DEFAULT_PLUGINS", "ENV_ALLOW", "GROUP", "PluginInfo", "Plugins", "incompatibility"]
