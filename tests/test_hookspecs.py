"""datasette's two meta-tests: every hook has a test and is documented with its arguments."""

from __future__ import annotations

import re
import types
import warnings
from pathlib import Path

import click
import pluggy
import pytest
from click.testing import CliRunner

from nanobot_core import hookimpl, hookspecs
from nanobot_core.hookspecs import DEPRECATED_HOOKS
from nanobot_core.plugins import Plugins
from nanobot_core.protocols import (
    Channel,
    ChatModel,
    MediaProcessor,
    SpeechSynthesizer,
    Tool,
    Transcriber,
)
from nanobot_core.registry import Kind

ROOT = Path(__file__).resolve().parents[1]


def manager() -> pluggy.PluginManager:
    return Plugins.load(entry_points=False).pm


def hook_names() -> list[str]:
    pm = manager()
    return sorted(name for name in vars(pm.hook) if not name.startswith("_"))


def argnames(name: str) -> tuple[str, ...]:
    spec = getattr(manager().hook, name).spec
    assert spec is not None
    return tuple(spec.argnames)


def test_the_hook_list_is_what_hookspecs_declares() -> None:
    declared = sorted(
        name for name, value in vars(hookspecs).items() if hasattr(value, "nanobot_spec")
    )

    assert hook_names() == declared
    assert "register_chat_models" in declared


@pytest.mark.parametrize("name", hook_names())
def test_hook_has_a_test(name: str) -> None:
    test_files = [
        p
        for pattern in ("tests/**/*.py", "plugins/*/tests/**/*.py")
        for p in ROOT.glob(pattern)
        if p.resolve() != Path(__file__).resolve()
    ]

    assert any(name in p.read_text(encoding="utf-8") for p in test_files), (
        f"no test under tests/ or plugins/*/tests uses hook {name}"
    )


@pytest.mark.parametrize("name", hook_names())
def test_hook_is_documented_with_its_arguments(name: str) -> None:
    docs = "\n".join(p.read_text(encoding="utf-8") for p in sorted(ROOT.glob("docs/**/*.md")))
    signature = f"{name}({', '.join(argnames(name))})"

    assert signature in docs, f"docs/ do not document {signature}"


@pytest.mark.parametrize("name", hook_names())
def test_hook_has_a_docstring_for_plugin_authors(name: str) -> None:
    doc = getattr(hookspecs, name).__doc__ or ""

    assert len(doc.split()) >= 10, f"{name} needs a docstring a plugin author can work from"


def test_every_register_hook_takes_register_and_commands_take_cli() -> None:
    for name in hook_names():
        expected = ("cli",) if name == "register_commands" else ("register",)
        assert argnames(name) == expected, name


def test_deprecated_hooks_point_at_a_hook_that_exists() -> None:
    names = hook_names()
    for old, deprecation in DEPRECATED_HOOKS.items():
        assert old in names
        assert deprecation.new in names
        assert argnames(old) == argnames(deprecation.new)
        spec = getattr(manager().hook, old).spec
        assert spec.warn_on_impl is not None
        assert spec.warn_on_impl.deprecation is deprecation  # type: ignore[attr-defined]


def test_hookimpl_is_the_nanobot_marker() -> None:
    class Plugin:
        @hookimpl
        def register_tools(self, register):  # type: ignore[no-untyped-def]
            register("marked", lambda config, host: None)

    plugins = Plugins.load(entry_points=False, extra=(Plugin(),))

    assert plugins.infos[-1].hooks == ("register_tools",)


def doc_examples() -> dict[str, str]:
    """The Python example under each hook's heading in docs/hooks.md."""
    text = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
    examples = {}
    for section in re.split(r"^## ", text, flags=re.MULTILINE)[1:]:
        heading = re.match(r"`(\w+)\(", section)
        code = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
        if heading:
            examples[heading.group(1)] = code[-1]
    return examples


EXPECTED = {
    "register_channels": (Kind.CHANNEL, "pipe", Channel),
    "register_chat_models": (Kind.CHAT_MODEL, "shout", ChatModel),
    "register_models": (Kind.CHAT_MODEL, "shout", ChatModel),
    "register_transcribers": (Kind.TRANSCRIBER, "sidecar", Transcriber),
    "register_speech_synthesizers": (Kind.SPEECH, "silence", SpeechSynthesizer),
    "register_media_processors": (Kind.MEDIA, "document", MediaProcessor),
    "register_tools": (Kind.TOOL, "clock", Tool),
}


def test_every_hook_has_an_example_in_the_reference() -> None:
    assert sorted(doc_examples()) == hook_names()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reference_example_registers_what_its_protocol_needs(name: str) -> None:
    kind, registered, protocol = EXPECTED[name]
    examples = doc_examples()
    module = types.ModuleType(f"example_{name}")
    if name == "register_models":  # the deprecated alias reuses the chat model example
        exec(examples["register_chat_models"], module.__dict__)
        del module.register_chat_models
    exec(examples[name], module.__dict__)

    plugins = Plugins.load(entry_points=False)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert plugins.add(module, name="example")
    registration = plugins.collect().get(kind, registered)

    assert registration is not None
    assert registration.plugin == "example"
    made = registration.factory(registration.config(), None)
    assert isinstance(made, protocol)


def test_register_commands_example_adds_a_command() -> None:
    module = types.ModuleType("example_commands")
    exec(doc_examples()["register_commands"], module.__dict__)
    plugins = Plugins.load(entry_points=False, extra=(module,))
    group = click.Group("nanobot")

    plugins.pm.hook.register_commands(cli=group)

    result = CliRunner().invoke(group, ["hello", "world"])
    assert result.output == "hello world\n"
