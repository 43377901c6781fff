"""The plugin contract: one ``register_*`` hook per kind of capability.

Registration hooks are synchronous and receive a ``register`` callback (the
pattern of simonw/llm)::

    from nanobot_core import hookimpl

    @hookimpl
    def register_chat_models(register):
        register("mine", MyModel, config=MyModelConfig)

``register(name, factory, config=ConfigClass)``: ``name`` is unique per kind
(a clash is an error naming both plugins). The core structures the plugin's
config table (``[providers.mine]`` for a chat model) into ``ConfigClass`` (an
attrs class; unknown keys are errors) and calls ``factory(config, host)`` only
for what the configuration enables. ``host`` is the running
``nanobot_core.Host``. Behaviour lives in the returned object, whose
``async`` methods the core runs in its own nurseries; the protocols are in
``nanobot_core.protocols``.

Deprecated hooks stay callable for the rest of their major version and warn
once per plugin (see docs/compatibility.md); ``DEPRECATED_HOOKS`` maps each
to its replacement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

from .deprecations import Deprecation, hook_warning

if TYPE_CHECKING:
    import click

    from .registry import Register

hookspec = pluggy.HookspecMarker("nanobot")
hookimpl = pluggy.HookimplMarker("nanobot")

REGISTER_MODELS = Deprecation(
    subject="hook", old="register_models", new="register_chat_models", since="1.0"
)

DEPRECATED_HOOKS: dict[str, Deprecation] = {REGISTER_MODELS.old: REGISTER_MODELS}
"""Deprecated hook name -> its deprecation (whose ``new`` is the hook that replaces it)."""


@hookspec
def register_channels(register: Register) -> None:
    """Register channels: chat platforms that receive messages and send replies.

    Config table: ``[channels.<name>]``; its presence enables the channel
    (``enabled = false`` turns it off). The factory returns a
    ``nanobot_core.protocols.Channel``.
    """


@hookspec
def register_chat_models(register: Register) -> None:
    """Register chat models: a conversation and tool specs in, a reply or tool calls out.

    Config table: ``[providers.<name>]`` (optional when every field has a
    default). Selected by ``[agent] model = "<name>/<model id>"``. The factory
    returns a ``nanobot_core.protocols.ChatModel``.
    """


@hookspec(warn_on_impl=hook_warning(REGISTER_MODELS))
def register_models(register: Register) -> None:
    """Deprecated alias of ``register_chat_models`` (removed in plugin API 2.0).

    ``register_models`` is the name simonw/llm uses; nanobot calls the hook
    ``register_chat_models`` because transcribers and speech synthesizers are
    models too. An implementation of it still registers chat models, and the
    loader warns once, naming the plugin. Rename the function to migrate.
    """


@hookspec
def register_transcribers(register: Register) -> None:
    """Register transcribers: an audio file in, its text out.

    Config table: ``[providers.<name>]``, shared with a chat model of the same
    name. Selected by ``[voice] transcriber``. The factory returns a
    ``nanobot_core.protocols.Transcriber``.
    """


@hookspec
def register_speech_synthesizers(register: Register) -> None:
    """Register speech synthesizers: reply text in, OGG/Opus voice notes out.

    Config table: ``[speech.<name>]``. Selected by ``[voice] synthesizer``. The
    factory returns a ``nanobot_core.protocols.SpeechSynthesizer``.
    """


@hookspec
def register_media_processors(register: Register) -> None:
    """Register media processors: one kind of attachment in, content parts out.

    Config table: ``[media.<name>]``, optional; an installed processor is used
    unless its table says ``enabled = false``. The factory returns a
    ``nanobot_core.protocols.MediaProcessor`` naming the attachment kinds it
    handles.
    """


@hookspec
def register_tools(register: Register) -> None:
    """Register agent tools: functions the model may call by name.

    Config table: ``[tools.<name>]``; its presence enables the tool. The
    factory returns a ``nanobot_core.protocols.Tool`` whose ``parameters`` is
    a JSON schema; the registered name is the name the model sees.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add subcommands to the ``nanobot`` command line (a click group).

    Import heavy dependencies inside the command, not at module level, so
    ``nanobot --help`` stays fast.
    """
