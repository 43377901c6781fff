"""``[tools.mcp]``: one table per MCP server, under ``[tools.mcp.servers.<name>]``."""

from __future__ import annotations

import re
from typing import Any, Literal

import attrs
from attrs import field, frozen

from nanobot_core import Secret
from nanobot_core.validators import FieldError, http_url, positive

SERVER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def _optional_url(
    instance: object, attribute: attrs.Attribute[str | None], value: str | None
) -> None:
    if value is not None:
        http_url(instance, attribute, value)


def _strings(example: str) -> Any:
    """A list of non-empty strings (TOML would otherwise turn ``"a b"`` into letters)."""

    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise FieldError(attribute.name, f"must be a list of strings, such as {example}")

    return check


@frozen
class ServerConfig:
    """One server: ``command`` (stdio) or ``url`` (streamable HTTP), never both."""

    # Any, so that cattrs hands over the TOML value as it is and the check below sees it.
    command: Any = field(
        default=None, validator=_strings('["mcp-server-time", "--local-timezone", "UTC"]')
    )
    env: dict[str, Secret] = field(factory=dict)
    url: str | None = field(default=None, validator=_optional_url)
    headers: dict[str, Secret] = field(factory=dict)
    tools: Any = field(default=None, validator=_strings('["search", "read"]'))
    access: Literal["admins", "all"] = "admins"
    timeout: float = field(default=30.0, validator=positive)
    startup_timeout: float = field(default=10.0, validator=positive)
    max_result_chars: int = field(default=20_000, validator=positive)

    def __attrs_post_init__(self) -> None:
        if self.command is None and self.url is None:
            raise FieldError(
                "command", "set command = [...] (stdio) or url = ... (streamable HTTP)"
            )
        if self.command is not None and self.url is not None:
            raise FieldError("url", "set either command (stdio) or url (streamable HTTP), not both")
        if self.command is not None and not self.command:
            raise FieldError("command", "must name the program to run, as a list of arguments")
        if self.env and self.command is None:
            raise FieldError("env", "only a stdio server (command = [...]) takes env")
        if self.headers and self.url is None:
            raise FieldError("headers", "only an HTTP server (url = ...) takes headers")
        if self.tools is not None and not self.tools:
            raise FieldError(
                "tools", "an empty allow-list offers nothing; remove the server instead"
            )

    @property
    def transport(self) -> str:
        return "stdio" if self.command is not None else "http"


@frozen
class McpConfig:
    servers: dict[str, ServerConfig] = field(
        factory=dict,
        metadata={
            "example": '{ time = { command = ["mcp-server-time", "--local-timezone", "UTC"] } }',
            "help": "see docs/plugins/tools_mcp.md",
        },
    )

    def __attrs_post_init__(self) -> None:
        for name in self.servers:
            if not SERVER_NAME.match(name):
                raise FieldError(
                    "servers",
                    f"server name {name!r} must be 1-32 letters, digits, '_' or '-'",
                )
