"""Deprecated forms of the plugin API: one warning per plugin, naming the plugin and the fix.

A deprecated hook or hook argument is declared on its hookspec with pluggy's
own ``warn_on_impl`` / ``warn_on_impl_args``, using a ``PluginDeprecationWarning``
that carries its ``Deprecation``; the loader catches pluggy's warning and
re-issues it through ``Deprecations.warn`` with the plugin's name. A
deprecated method or argument of a registered object (a protocol in
``nanobot_core.protocols``) goes through ``Deprecations.method`` or
``Deprecations.argument`` at the place the core calls it.

Each ``Deprecations`` (one per ``Plugins``, so one per runtime) warns at most
once per plugin and deprecated form. The policy is in docs/compatibility.md.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from typing import Any

import attrs
from attrs import define, frozen


def _next_major(self: Deprecation) -> str:
    return f"{int(self.since.split('.')[0]) + 1}.0"


@frozen
class Deprecation:
    """One deprecated form of the plugin API and what replaces it.

    ``subject`` says what the names are (``"hook"``, ``"Transcriber method"``,
    ``"register_commands argument"``); ``since`` and ``removed_in`` are plugin
    API versions (``removed_in`` defaults to the next major version).
    """

    subject: str
    old: str
    new: str
    since: str
    removed_in: str = attrs.field(default=attrs.Factory(_next_major, takes_self=True))

    def describe(self) -> str:
        return (
            f"{self.subject} {self.old!r} is deprecated since plugin API {self.since} "
            f"and will be removed in {self.removed_in}: use {self.new!r} instead "
            "(see docs/compatibility.md)"
        )


class PluginDeprecationWarning(DeprecationWarning):
    """A plugin uses a form of the plugin API that a later major version removes.

    ``plugin`` is the plugin's name once known (``None`` on the instance a
    hookspec declares for pluggy).
    """

    def __init__(
        self,
        message: str | None = None,
        *,
        deprecation: Deprecation | None = None,
        plugin: str | None = None,
    ) -> None:
        if message is None:
            described = deprecation.describe() if deprecation else "deprecated plugin API"
            message = f"plugin {plugin!r}: {described}" if plugin else described
        super().__init__(message)
        self.deprecation = deprecation
        self.plugin = plugin


def hook_warning(deprecation: Deprecation) -> PluginDeprecationWarning:
    """The warning to give pluggy's ``warn_on_impl`` / ``warn_on_impl_args``."""
    return PluginDeprecationWarning(deprecation=deprecation)


@define
class Deprecations:
    """Warns about deprecated plugin API use, once per plugin and deprecated form."""

    warned: set[tuple[str, Deprecation]] = attrs.Factory(set)

    def warn(
        self,
        plugin: str,
        deprecation: Deprecation,
        *,
        where: Callable[..., Any] | tuple[str, int] | None = None,
    ) -> bool:
        """Warn that ``plugin`` uses ``deprecation``; False when it was already warned.

        ``where`` is the plugin's function or method that uses the old form
        (or a ``(filename, lineno)``); the warning points at that source line.
        """
        key = (plugin, deprecation)
        if key in self.warned:
            return False
        self.warned.add(key)
        warning = PluginDeprecationWarning(deprecation=deprecation, plugin=plugin)
        location = _location(where)
        if location is None:
            warnings.warn(warning, stacklevel=3)
        else:
            warnings.warn_explicit(warning, type(warning), *location)
        return True

    def method(self, obj: object, plugin: str, deprecation: Deprecation) -> Callable[..., Any]:
        """The bound method to call on a plugin's object: ``new``, or ``old`` with a warning.

        When the object has neither, the ``AttributeError`` names ``new``.
        """
        if not hasattr(obj, deprecation.new) and hasattr(obj, deprecation.old):
            old: Callable[..., Any] = getattr(obj, deprecation.old)
            self.warn(plugin, deprecation, where=old)
            return old
        new: Callable[..., Any] = getattr(obj, deprecation.new)
        return new

    def argument(self, function: Callable[..., Any], plugin: str, deprecation: Deprecation) -> str:
        """The keyword to pass a value under: ``new``, or ``old`` with a warning.

        ``new`` is used when the function accepts it (or any ``**kwargs``), or
        accepts neither name (the call then fails with Python's own error).
        """
        try:
            parameters = inspect.signature(function).parameters
        except (TypeError, ValueError):  # no signature to read: assume the current form
            return deprecation.new
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        if deprecation.new in parameters or takes_any or deprecation.old not in parameters:
            return deprecation.new
        self.warn(plugin, deprecation, where=function)
        return deprecation.old


def _location(function: Callable[..., Any] | tuple[str, int] | None) -> tuple[str, int] | None:
    if function is None or isinstance(function, tuple):
        return function
    code = getattr(inspect.unwrap(getattr(function, "__func__", function)), "__code__", None)
    if code is None:
        return None
    return code.co_filename, code.co_firstlineno


__all__ = [
    "Deprecation",
    "Deprecations",
    "PluginDeprecationWarning",
    "hook_warning",
]
