from __future__ import annotations

from pathlib import Path

import pytest
from nanobot_channel_telegram.testing import FakeHost


@pytest.fixture
def host(tmp_path: Path) -> FakeHost:
    return FakeHost(storage_path=tmp_path)
