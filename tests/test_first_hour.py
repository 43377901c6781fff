"""A newcomer's first steps: one line per mistake, `init` into new folders, a readable table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nanobot_core.config import load_config
from nanobot_core.errors import ConfigError
from nanobot_core.plugins import Plugins
from nanobot_core.registry import Registry
from nanobot_core.testing import ScriptedChatModel, objects_plugin


def registry_with(*chat_models: str) -> Registry:
    plugin = objects_plugin(chat_models=[(name, ScriptedChatModel()) for name in chat_models])
    return Registry.collect(Plugins.load(env={}, entry_points=False, extra=(plugin,)).pm)


def config_error(raw: dict[str, object], registry: Registry) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(raw, registry, env={})
    return str(caught.value).splitlines()


def test_a_model_without_its_provider_gets_one_line_with_a_suggestion() -> None:
    lines = config_error({"agent": {"model": "gpt-4o"}}, registry_with("openai"))
    assert lines == [
        "agent.model: expected \"<chat model>/<model id>\", got 'gpt-4o'; "
        'did you mean "openai/gpt-4o"?'
    ]


def test_the_suggestion_names_every_installed_chat_model_but_echo() -> None:
    lines = config_error({"agent": {"model": "llama3"}}, registry_with("openai", "ollama"))
    assert lines[0].endswith('did you mean "ollama/llama3" or "openai/llama3"?')
    assert len(lines) == 1


def test_with_only_echo_installed_the_suggestion_is_echo(registry: Registry) -> None:
    lines = config_error({"agent": {"model": "gpt-4o"}}, registry)
    assert lines == [
        "agent.model: expected \"<chat model>/<model id>\", got 'gpt-4o'; "
        'did you mean "echo/gpt-4o"?'
    ]


@pytest.mark.parametrize("model", ["openai/", "/gpt-4o"])
def test_half_a_model_name_is_one_line_too(model: str) -> None:
    lines = config_error({"agent": {"model": model}}, registry_with("openai"))
    assert lines == [f"agent.model: expected \"<chat model>/<model id>\", got '{model}'"]


def nanobot(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NANOBOT_")}
    env.update(HOME=str(cwd), XDG_CONFIG_HOME=str(cwd / "c"), XDG_DATA_HOME=str(cwd / "d"))
    return subprocess.run(
        [sys.executable, "-m", "nanobot_core", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
    )


def test_init_creates_missing_folders(tmp_path: Path) -> None:
    result = nanobot(tmp_path, "init", "sub/dir/x.toml")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "sub" / "dir" / "x.toml").is_file()
    assert list((tmp_path / "sub" / "dir").iterdir()) == [tmp_path / "sub" / "dir" / "x.toml"]
    assert nanobot(tmp_path, "check", "-c", "sub/dir/x.toml").returncode == 0


def test_init_below_a_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    result = nanobot(tmp_path, "init", "afile/x.toml")
    assert result.returncode == 1
    assert result.stderr == "error: cannot write afile/x.toml: File exists (afile)\n"


def test_plugins_table_has_a_header_row(tmp_path: Path) -> None:
    result = nanobot(tmp_path, "plugins")
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["NAME", "VERSION", "STATUS", "HOOKS"]
    assert rows[0].split()[0] == "console"
    assert header.index("STATUS") == rows[0].index("loaded")
