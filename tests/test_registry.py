"""What the register hooks collect: one registration per kind and name, problems recorded."""

from __future__ import annotations

from typing import Any

import attrs
import click
import pytest

from nanobot_core import hookimpl
from nanobot_core.deprecations import PluginDeprecationWarning
from nanobot_core.errors import PluginError
from nanobot_core.plugins import Plugins
from nanobot_core.registry import Kind, NoConfig, Registration, Registry


@attrs.frozen
class Settings:
    size: int = 1


def factory(config: Any, host: Any) -> object:
    return object()


class Everything:
    """One registration through every register hook."""

    @hookimpl
    def register_channels(self, register):  # type: ignore[no-untyped-def]
        register("chan", factory, config=Settings)

    @hookimpl
    def register_chat_models(self, register):  # type: ignore[no-untyped-def]
        register("prov", factory, config=Settings)

    @hookimpl
    def register_transcribers(self, register):  # type: ignore[no-untyped-def]
        register("prov", factory)

    @hookimpl
    def register_speech_synthesizers(self, register):  # type: ignore[no-untyped-def]
        register("voice", factory)

    @hookimpl
    def register_media_processors(self, register):  # type: ignore[no-untyped-def]
        register("video", factory)

    @hookimpl
    def register_tools(self, register):  # type: ignore[no-untyped-def]
        register("clock", factory)

    @hookimpl
    def register_commands(self, cli):  # type: ignore[no-untyped-def]
        @cli.command()
        def everything() -> None:
            click.echo("everything")


def collect(*plugins: object) -> tuple[Plugins, Registry]:
    loaded = Plugins.load(entry_points=False, extra=plugins)
    return loaded, loaded.collect()


def test_every_register_hook_registers_its_kind() -> None:
    _, registry = collect(Everything())

    expected = {
        Kind.CHANNEL: "chan",
        Kind.CHAT_MODEL: "prov",
        Kind.TRANSCRIBER: "prov",  # a chat model and a transcriber may share a name
        Kind.SPEECH: "voice",
        Kind.MEDIA: "video",
        Kind.TOOL: "clock",
    }
    for kind, name in expected.items():
        registration = registry.get(kind, name)
        assert registration is not None, kind
        assert registration == Registration(
            kind,
            name,
            factory,
            Settings if kind in (Kind.CHANNEL, Kind.CHAT_MODEL) else NoConfig,
            "Everything",
        )
    assert registry.problems == []


def test_register_commands_adds_subcommands_to_the_cli() -> None:
    plugins, _ = collect(Everything())
    group = click.Group("nanobot")

    plugins.pm.hook.register_commands(cli=group)

    assert "everything" in group.commands


def test_deprecated_register_models_registers_chat_models() -> None:
    class Old:
        @hookimpl
        def register_models(self, register):  # type: ignore[no-untyped-def]
            register("legacy", factory)

    with pytest.warns(PluginDeprecationWarning, match="plugin 'Old': hook 'register_models'"):
        _, registry = collect(Old())

    assert registry.get(Kind.CHAT_MODEL, "legacy") is not None
    assert registry.get(Kind.CHAT_MODEL, "legacy").plugin == "Old"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "factory_", "config", "reason"),
    [
        ("", factory, None, "registered tool '': a name must be a non-empty string without '/'"),
        ("a/b", factory, None, "registered tool 'a/b': a name must be a non-empty string"),
        ("ok", "not callable", None, "registered tool 'ok' with a factory that is not callable"),
        ("ok", factory, dict, "registered tool 'ok' with a config class that is not an attrs"),
    ],
)
def test_invalid_registration_is_a_problem_naming_the_plugin(
    name: str, factory_: Any, config: Any, reason: str
) -> None:
    class Bad:
        @hookimpl
        def register_tools(self, register):  # type: ignore[no-untyped-def]
            register(name, factory_, config=config)
            register("fine_tool", factory)

    plugins, registry = collect(Bad())

    assert len(registry.problems) == 1
    assert registry.problems[0].startswith(f"plugin 'Bad' {reason}")
    assert registry.by_plugin == {"Bad": registry.problems}
    assert registry.get(Kind.TOOL, "fine_tool") is not None  # the plugin's good registrations stay
    assert plugins.infos[-1].status == "failed"
    assert plugins.infos[-1].error == registry.problems[0]


def test_clash_names_both_plugins_and_keeps_the_first() -> None:
    class First:
        @hookimpl
        def register_tools(self, register):  # type: ignore[no-untyped-def]
            register("clock", factory)

    class Second:
        @hookimpl
        def register_tools(self, register):  # type: ignore[no-untyped-def]
            register("clock", lambda config, host: None)

    _, registry = collect(First(), Second())

    assert registry.problems == [
        "tool 'clock' is registered by both plugin 'First' and plugin 'Second'"
    ]
    assert registry.get(Kind.TOOL, "clock").factory is factory  # type: ignore[union-attr]


def test_clash_with_a_builtin_names_both() -> None:
    class Echo:
        @hookimpl
        def register_chat_models(self, register):  # type: ignore[no-untyped-def]
            register("echo", factory)

    _, registry = collect(Echo())

    assert registry.problems == [
        "chat model 'echo' is registered by both plugin 'echo' and plugin 'Echo'"
    ]


def test_raising_hook_is_recorded_and_the_other_plugins_register() -> None:
    class Raiser:
        @hookimpl
        def register_channels(self, register):  # type: ignore[no-untyped-def]
            register("half", factory)
            raise ValueError("bad default")

    _, registry = collect(Raiser(), Everything())

    assert registry.problems == [
        "plugin 'Raiser' failed in register_channels: ValueError: bad default"
    ]
    assert registry.get(Kind.CHANNEL, "half") is None
    assert registry.get(Kind.CHANNEL, "chan") is not None
    assert registry.get(Kind.CHANNEL, "console") is not None


def test_hook_without_arguments_is_called() -> None:
    called = []

    class NoArgs:
        @hookimpl
        def register_tools(self):  # type: ignore[no-untyped-def]
            called.append(True)

    _, registry = collect(NoArgs())

    assert called == [True]
    assert registry.problems == []


def test_wrapper_register_hook_is_a_problem() -> None:
    class Wrapper:
        @hookimpl(wrapper=True)
        def register_tools(self, register):  # type: ignore[no-untyped-def]
            return (yield)

    _, registry = collect(Wrapper())

    assert registry.problems == [
        "plugin 'Wrapper' implements register_tools as a wrapper; it must not"
    ]


def test_add_raises_for_direct_callers() -> None:
    registry = Registry()
    registry.add(Registration(Kind.TOOL, "t", factory, NoConfig, "a"))

    with pytest.raises(PluginError, match="registered by both plugin 'a' and plugin 'b'"):
        registry.add(Registration(Kind.TOOL, "t", factory, NoConfig, "b"))
    assert registry.names(Kind.TOOL) == ["t"]
