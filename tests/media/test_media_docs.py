"""The media settings as the docs show them load as they say, and bad values are one line."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from nanobot_core import ConfigError
from nanobot_core.builtins.media import AudioConfig, ImageConfig
from nanobot_core.config import load_config
from nanobot_core.registry import Kind, Registry

DOCS = Path(__file__).parents[2] / "docs"


def toml_blocks(text: str) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", text, flags=re.S)


def media_tables(text: str) -> dict[str, object]:
    found: dict[str, object] = {}
    for block in toml_blocks(text):
        parsed = tomllib.loads(block)
        found.update(parsed.get("media", {}))
    return found


@pytest.mark.parametrize("page", ["media.md", "configuration.md"])
def test_the_documented_media_settings_are_the_defaults(registry: Registry, page: str) -> None:
    tables = media_tables((DOCS / page).read_text(encoding="utf-8"))
    assert set(tables) >= {"image", "audio"}
    config = load_config({"media": {k: tables[k] for k in ("image", "audio")}}, registry, env={})
    assert config.plugins[(Kind.MEDIA, "image")] == ImageConfig()
    assert config.plugins[(Kind.MEDIA, "audio")] == AudioConfig()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"image": {"max_side": 10}}, "media.image.max_side: must be between 64 and 8192, got 10"),
        (
            {"image": {"max_part_bytes": 50_000_000}},
            "media.image.max_part_bytes: must be between 10000 and 20000000, got 50000000",
        ),
        ({"audio": {"timeout": 0}}, "media.audio.timeout: must be greater than 0, got 0"),
        ({"image": {"max_side": "big"}}, "media.image.max_side: expected an integer"),
    ],
)
def test_bad_media_settings_name_their_key(
    registry: Registry, table: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config({"media": table}, registry, env={})
    assert message in str(raised.value)
