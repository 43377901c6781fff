"""``[tools.mcp]``: entry point, strict validation (one line per error), check starts nothing."""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from nanobot_tools_mcp.config import McpConfig
from nanobot_tools_mcp.names import VALID, assign, model_name
from nanobot_tools_mcp.toolset import McpTools

from nanobot_core import ConfigError, NanobotError, Secret
from nanobot_core.config import Config, load_config
from nanobot_core.plugins import Plugins
from nanobot_core.registry import Kind, Registry
from nanobot_core.runtime import Runtime


@pytest.fixture
def registry() -> Registry:
    plugins = Plugins.load({"NANOBOT_LOAD_PLUGINS": "tools_mcp"})
    assert plugins.failures() == []
    return plugins.collect()


def load(registry: Registry, servers: dict[str, Any], env: dict[str, str] | None = None) -> Config:
    return load_config({"tools": {"mcp": {"servers": servers}}}, registry, env=env or {})


def error_of(registry: Registry, servers: dict[str, Any], env: dict[str, str] | None = None) -> str:
    with pytest.raises(NanobotError) as caught:
        load(registry, servers, env)
    return str(caught.value)


def test_the_entry_point_and_registration(registry: Registry) -> None:
    (ep,) = [e for e in metadata.entry_points(group="nanobot") if e.name == "tools_mcp"]
    assert ep.value == "nanobot_tools_mcp.plugin"
    assert ep.dist is not None and ep.dist.name == "nanobot-tools-mcp"
    registration = registry.get(Kind.TOOL, "mcp")
    assert registration is not None and registration.config is McpConfig


def test_a_full_table(registry: Registry) -> None:
    servers = {
        "time": {"command": ["mcp-server-time", "--local-timezone", "UTC"], "env": {"TZ": "UTC"}},
        "notes": {
            "url": "http://127.0.0.1:8931/mcp",
            "headers": {"Authorization": {"env": "NOTES_TOKEN"}},
            "tools": ["search", "read"],
            "access": "all",
            "timeout": 5,
            "max_result_chars": 1000,
        },
    }
    config = load(registry, servers, env={"NOTES_TOKEN": "Bearer t0ken"})
    mcp = config.plugin_config(Kind.TOOL, "mcp")
    notes = mcp.servers["notes"]
    assert notes.headers == {"Authorization": Secret("Bearer t0ken")}
    assert (notes.tools, notes.access, notes.timeout, notes.max_result_chars) == (
        ["search", "read"],
        "all",
        5.0,
        1000,
    )
    time = mcp.servers["time"]
    assert time.access == "admins" and time.timeout == 30.0 and time.transport == "stdio"
    assert "t0ken" not in repr(mcp)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({}, "tools.mcp.servers.a.command: set command = [...] (stdio) or url"),
        (
            {"command": ["x"], "url": "http://h/mcp"},
            "tools.mcp.servers.a.url: set either command (stdio) or url",
        ),
        ({"url": "ftp://h"}, "tools.mcp.servers.a.url: must be an http:// or https:// URL"),
        ({"url": "http://h/", "env": {"A": "b"}}, "tools.mcp.servers.a.env: only a stdio server"),
        ({"command": ["x"], "headers": {"A": "b"}}, "tools.mcp.servers.a.headers: only an HTTP"),
        ({"command": "x y"}, "tools.mcp.servers.a.command: must be a list of strings"),
        ({"command": []}, "tools.mcp.servers.a.command: must name the program"),
        ({"command": ["x"], "tools": "search"}, "tools.mcp.servers.a.tools: must be a list"),
        ({"command": ["x"], "access": "everyone"}, "tools.mcp.servers.a.access: expected one of"),
        ({"command": ["x"], "timeout": 0}, "tools.mcp.servers.a.timeout: must be greater than 0"),
        ({"command": ["x"], "bogus": 1}, "tools.mcp.servers.a: unknown key 'bogus'"),
    ],
)
def test_bad_tables_are_one_line_naming_the_key(
    registry: Registry, table: dict[str, Any], expected: str
) -> None:
    message = error_of(registry, {"a": table})
    assert message.startswith(expected)
    assert "\n" not in message


def test_a_missing_secret_names_its_key_and_never_a_value(registry: Registry) -> None:
    table = {"url": "http://h/mcp", "headers": {"Authorization": {"env": "NOPE"}}}
    assert error_of(registry, {"a": table}) == (
        "tools.mcp.servers.a.headers.Authorization: environment variable NOPE is not set"
    )


def test_a_bad_server_name(registry: Registry) -> None:
    assert error_of(registry, {"a b": {"command": ["x"]}}).startswith(
        "tools.mcp.servers: server name 'a b' must be"
    )


def test_check_reports_a_missing_program_and_starts_nothing(
    registry: Registry, tmp_path: Path
) -> None:
    marker = tmp_path / "started"
    starter = [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]
    servers = {"fine": {"command": starter}, "gone": {"command": ["no-such-mcp-server-here"]}}
    with pytest.raises(ConfigError) as caught:
        Runtime.create(load(registry, servers), registry)
    assert str(caught.value) == (
        "tools.mcp.servers.gone.command: program 'no-such-mcp-server-here' not found "
        "(not on PATH, or not an executable file)"
    )
    runtime = Runtime.create(load(registry, {"fine": {"command": starter}}), registry)
    assert isinstance(runtime.components.toolsets["mcp"], McpTools)
    assert not marker.exists()  # building (what `nanobot check` does) started no server


def test_model_names_are_sanitised_and_bounded() -> None:
    assert model_name("time", "get_current_time") == "time_get_current_time"
    assert model_name("fs", "read.file/v2") == "fs_read_file_v2"
    long = model_name("srv", "t" * 200)
    assert VALID.match(long) and len(long) == 64
    assert model_name("srv", "t" * 199 + "u") != long  # a hash keeps long names apart


def test_clashes_resolve_the_same_way_in_any_order() -> None:
    pairs = [("a", "x.y"), ("a", "x_y"), ("a_x", "y")]
    first = assign(pairs)
    assert first == assign(list(reversed(pairs)))
    assert sorted(first) == ["a_x_y", "a_x_y_2", "a_x_y_3"]
    assert first["a_x_y"] == ("a", "x.y")  # sorted order decides who keeps the plain name
    assert all(VALID.match(name) for name in first)


def test_the_starter_section_is_a_valid_table(registry: Registry, tmp_path: Path) -> None:
    import tomllib

    from nanobot_core.starter import render

    text = render(registry, tmp_path)
    start = text.index("# [tools.mcp]")
    lines = text[start:].split("\n\n", 1)[0].splitlines()
    table = "\n".join(line.removeprefix("# ").split(" # ")[0] for line in lines)
    mcp = load_config(tomllib.loads(table), registry, env={}).plugin_config(Kind.TOOL, "mcp")
    assert mcp.servers["time"].command == ["mcp-server-time", "--local-timezone", "UTC"]
