"""The starter config: valid TOML whatever the storage path, accepted by the loader."""

from __future__ import annotations

import tomllib
from pathlib import Path

from nanobot_core.config import load_config
from nanobot_core.registry import Registry
from nanobot_core.starter import render


def test_a_storage_path_with_quotes_and_backslashes_stays_valid_toml(registry: Registry) -> None:
    storage = Path('C:\\Users\\ada "the" dev\\nanobot')
    text = render(registry, storage)
    uncommented = text.replace("# path = ", "path = ")
    parsed = tomllib.loads(uncommented)
    assert parsed["storage"]["path"] == str(storage)
    load_config(tomllib.loads(text), registry, env={})
