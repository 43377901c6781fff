"""`python -m nanobot_core.testing.openai_server`: a real OGG/Opus, a port, a clean stop."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from nanobot_core.testing._serve import silent_opus

SERVER = [sys.executable, "-m", "nanobot_core.testing.openai_server"]


@pytest.mark.parametrize("seconds", [0.5, 1.0, 5.0])  # 5 s needs two audio pages
def test_silent_opus_is_an_ogg_opus_stream_of_that_length(seconds: float) -> None:
    ogg = pytest.importorskip("nanobot_tts_openai.ogg", reason="the tts plugin reads Ogg pages")
    data = silent_opus(seconds)
    assert ogg.duration_from(data, data) == seconds
    offset, pages = 0, 0
    while offset < len(data):  # every page is whole and its CRC matches
        page = ogg.read_page(data, offset)
        assert page is not None, f"bad page at {offset}"
        offset, pages = offset + page.size, pages + 1
    assert pages == (4 if seconds == 5.0 else 3)


def test_ffmpeg_decodes_it(tmp_path: Path) -> None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg is not installed (Debian: apt-get install ffmpeg)")
    path = tmp_path / "silence.ogg"
    path.write_bytes(silent_opus(1.0))
    result = subprocess.run(
        [ffmpeg, "-nostdin", "-v", "error", "-i", str(path), "-f", "s16le", "-"],
        capture_output=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    assert len(result.stdout) == 48_000 * 2  # one second, mono, 16-bit, pre-skip trimmed
    assert set(result.stdout) == {0}


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [*SERVER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    banner = server.stdout.readline()
    assert banner.startswith("serving OpenAI-compatible API at http://127.0.0.1:"), banner
    return server, banner.split(" at ", 1)[1].split(" ", 1)[0]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_it_answers_then_stops_cleanly_on_a_signal(stop: signal.Signals) -> None:
    server, base_url = start("--port", "0", "--reply", "hi there", "--transcript", "heard")
    try:
        request = urllib.request.Request(
            f"{base_url}/chat/completions",
            data=json.dumps({"model": "m", "messages": []}).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.load(response)["choices"][0]["message"]["content"] == "hi there"
        speech = urllib.request.Request(f"{base_url}/audio/speech", data=b"{}")
        with urllib.request.urlopen(speech, timeout=10) as response:
            assert response.read() == silent_opus(1.0)
        server.send_signal(stop)
        out, err = server.communicate(timeout=10)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert (server.returncode, err) == (0, "")
    assert out == "stopped after 2 requests (chat 1, transcription 0, speech 1)\n"


def test_a_taken_port_is_one_line_and_exit_1() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*SERVER, "--port", str(port)], capture_output=True, text=True, timeout=30
        )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == f"error: cannot listen on 127.0.0.1:{port}: Address already in use\n"


def test_a_port_out_of_range_is_a_usage_error() -> None:
    result = subprocess.run([*SERVER, "--port", "70000"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "--port must be between 0 and 65535, got 70000" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_option_the_docs_name_exists() -> None:
    from nanobot_core.testing._serve import parser

    docs = Path(__file__).parents[2] / "docs" / "testing-server.md"
    section = docs.read_text().split("## Trying nanobot offline", 1)[1]
    named = set(re.findall(r"`(--[a-z-]+)", section)) - {"--audio-out", "--attach"}
    options = {option for action in parser()._actions for option in action.option_strings}
    assert named == {"--port", "--reply", "--transcript"}
    assert named <= options
