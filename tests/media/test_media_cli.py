"""``nanobot chat --attach``: kinds by content, and a refused turn on stderr with exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

NANOBOT = [sys.executable, "-m", "nanobot_core"]


def chat(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NANOBOT_")}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        PYTHONWARNINGS="error",
        NANOBOT_LOAD_PLUGINS="",  # the built-ins only: echo model, image and audio
        TMPDIR=str(home / "tmp"),
    )
    (home / "tmp").mkdir(exist_ok=True)
    return subprocess.run(
        [*NANOBOT, "chat", *args], capture_output=True, text=True, cwd=home, env=env, timeout=60
    )


def test_pictures_are_pictures_whatever_their_names(home: Path, samples: Any) -> None:
    result = chat(
        home, "-m", "look", "--attach", str(samples.png_named_mp4),
        "--attach", str(samples.heic), "--attach", str(samples.jpeg_named_png),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "echo: look\n(images: 3)\n"
    assert list((home / "tmp").iterdir()) == []


def test_nothing_usable_is_refused_on_stderr_with_exit_2(home: Path, samples: Any) -> None:
    result = chat(
        home, "-m", "", "--attach", str(samples.truncated_jpeg),
        "--attach", str(samples.bomb),
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[-2].startswith("cut.jpg: the image does not decode (")
    assert lines[-1].startswith("bomb.png: the image is 900 megapixels")
    assert list((home / "tmp").iterdir()) == []


def test_a_document_the_core_cannot_read_is_named(home: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.7\n")
    result = chat(home, "-m", "", "--attach", str(pdf))
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == "report.pdf: I can't read document attachments."
