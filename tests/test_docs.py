"""The docs as a newcomer reads them: install lines that work from a clone, references that
exist, and every quoted error message exactly the line the code prints."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from nanobot_core.builtins.console import REPL_HINT
from nanobot_core.commands import UNKNOWN, VOICE_USAGE
from nanobot_core.messages import Attachment, AttachmentKind
from nanobot_core.testing import Harness
from nanobot_core.testing.openai_server import OpenAIServer, Response

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# packages the docs install from the package index on purpose
THIRD_PARTY = {"nox", "imageio-ffmpeg", "mcp-server-time"}


def text_of(doc: Path) -> str:
    return doc.read_text(encoding="utf-8")


def relative(doc: Path) -> str:
    return str(doc.relative_to(ROOT))


# --- pip install lines ------------------------------------------------------------------

_PIP = re.compile(r"pip install ([^`#\n&|)]*)")
_REQUIREMENT = re.compile(r"([^\[\]]+)(?:\[([^\]]*)\])?")


def pip_requirements(doc: Path) -> list[str]:
    """Every requirement of every ``pip install`` in ``doc``, flags left out."""
    found = []
    for match in _PIP.finditer(text_of(doc)):
        words = shlex.split(match.group(1).strip().rstrip(".,;:"))
        found += [word for word in words if not word.startswith("-")]
    return found


def project(folder: Path) -> dict[str, object]:
    with (folder / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)["project"]  # type: ignore[no-any-return]


DISTRIBUTIONS = {
    str(project(folder)["name"]): folder
    for folder in [ROOT, *sorted(p.parent for p in ROOT.glob("plugins/*/pyproject.toml"))]
}


def extras_of(folder: Path) -> set[str]:
    return set(project(folder).get("optional-dependencies", {}))  # type: ignore[call-overload]


@pytest.mark.parametrize("doc", DOCS, ids=relative)
def test_every_pip_install_works_from_a_clone(doc: Path) -> None:
    text = text_of(doc)
    for requirement in pip_requirements(doc):
        match = _REQUIREMENT.fullmatch(requirement)
        assert match is not None, requirement
        name, extras = match.group(1), {e.strip() for e in (match.group(2) or "").split(",")}
        extras.discard("")
        if name.startswith((".", "/")):
            folder = (ROOT / name).resolve()
            assert (folder / "pyproject.toml").is_file(), f"{relative(doc)}: no project at {name}"
        elif name.startswith("nanobot-"):
            assert name in DISTRIBUTIONS, f"{relative(doc)}: {name} is no distribution here"
            folder = DISTRIBUTIONS[name]
            clone_form = "." if folder == ROOT else f"./{folder.relative_to(ROOT)}"
            assert clone_form in pip_requirements(doc) or any(
                r.startswith(f"{clone_form}[") for r in pip_requirements(doc)
            ), f"{relative(doc)}: `pip install {name}` without the clone form {clone_form}"
            assert "package index" in text, f"{relative(doc)}: say {name} is for a package index"
        else:
            assert name in THIRD_PARTY, f"{relative(doc)}: pip install {name}?"
            continue
        assert extras <= extras_of(folder), f"{relative(doc)}: {requirement}: unknown extra"


def test_the_readme_says_how_to_get_ffmpeg_and_every_plugin() -> None:
    readme = text_of(ROOT / "README.md")
    requirements = pip_requirements(ROOT / "README.md")
    for folder in sorted(ROOT.glob("plugins/*/pyproject.toml")):
        assert f"./plugins/{folder.parent.name}" in requirements, folder.parent.name
    assert "./plugins/video_ffmpeg[bundled]" in requirements
    assert "apt-get install ffmpeg" in readme


# --- references -------------------------------------------------------------------------

_LINK = re.compile(r"\]\(([^)\s]+)\)")
_MENTION = re.compile(r"(?<![\w/.-])([\w./-]+\.md)\b")
_HEADING = re.compile(r"^#+ (.+)$", re.M)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("doc", DOCS, ids=relative)
def test_every_referenced_file_and_anchor_exists(doc: Path) -> None:
    text = text_of(doc)
    for target in _LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        assert file.exists(), f"{relative(doc)} links to {target}, which does not exist"
        if anchor:
            anchors = {slug(h) for h in _HEADING.findall(text_of(file))}
            assert anchor in anchors, f"{relative(doc)}: no heading #{anchor} in {path}"
    for name in _MENTION.findall(text):
        places = [doc.parent / name, ROOT / name, ROOT / "docs" / name]
        assert any(p.exists() for p in places), f"{relative(doc)} names {name}, not in the repo"


# --- quoted error messages --------------------------------------------------------------


def nanobot(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NANOBOT_", "OPENAI_"))}
    base.update(XDG_CONFIG_HOME=str(cwd / "c"), XDG_DATA_HOME=str(cwd / "d"), **env)
    return subprocess.run(
        [sys.executable, "-m", "nanobot_core", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=base,
        timeout=60,
    )


def quoted(doc: str, line: str) -> None:
    """The doc quotes ``line`` exactly, in backticks."""
    assert f"`{line}`" in text_of(ROOT / doc), f"{doc} no longer quotes {line!r}"


@pytest.mark.parametrize(
    ("doc", "toml", "line"),
    [
        (
            "docs/configuration.md",
            "[agent]\nmax_tool_iterations = 'ten'\n",
            "agent.max_tool_iterations: expected an integer, got a string",
        ),
        (
            "docs/plugins/provider_openai.md",
            "[agent]\nmodel = 'openai/m'\n[providers.openai]\napi_key = 'k'\ntimeout = 0\n",
            "providers.openai.timeout: must be greater than 0, got 0.0",
        ),
        (
            "docs/plugins/provider_openai.md",
            "[agent]\nmodel = 'openai/m'\n",
            "providers.openai.api_key: not set, and OPENAI_API_KEY is not in the environment",
        ),
        (
            "docs/configuration.md",
            "[agent]\nmodel = 'gpt-4o'\n",
            "agent.model: expected \"<chat model>/<model id>\", got 'gpt-4o'; "
            'did you mean "openai/gpt-4o"?',
        ),
        (
            "docs/plugins/tts_openai.md",
            "[voice]\nsynthesizer = 'openai'\n[providers.openai]\n",
            "speech.openai.api_key: not set (nor providers.openai.api_key), and OPENAI_API_KEY "
            "is not in the environment",
        ),
        (
            "docs/plugins/tts_openai.md",
            "[voice]\nsynthesizer = 'openai'\n[speech.openai]\napi_key = 'k'\nspeed = 5.0\n",
            "speech.openai.speed: must be between 0.25 and 4.0, got 5.0",
        ),
        (
            "docs/plugins/video_ffmpeg.md",
            "[media.video]\nmax_frames = 0\n",
            "media.video.max_frames: must be between 1 and 64, got 0",
        ),
    ],
)
def test_documented_config_errors_are_what_check_prints(
    tmp_path: Path, doc: str, toml: str, line: str
) -> None:
    plugin = {
        "openai": "nanobot_provider_openai",
        "tts": "nanobot_tts_openai",
        "video": "nanobot_video_ffmpeg",
    }
    for name, module in plugin.items():
        if name in doc or name in line:
            pytest.importorskip(module, reason=f"the {name} plugin is not installed")
    quoted(doc, line)
    (tmp_path / "example.toml").write_text(toml)
    result = nanobot(tmp_path, "check", "-c", "example.toml")
    assert result.returncode == 1
    printed = [re.sub(r" \(in [^)]*\)$", "", e) for e in result.stderr.splitlines()]
    assert f"error: {line}" in printed, result.stderr


@pytest.mark.parametrize(
    ("response", "line"),
    [
        (
            Response.raw(b"<html><body>502 Bad Gateway</body></html>", content_type="text/html"),
            "... sent a reply that is not a chat completion: "
            "is providers.openai.base_url an OpenAI-compatible API?",
        ),
        (
            Response.json({"hello": "world"}),
            "... sent a reply that is not a chat completion: "
            "is providers.openai.base_url an OpenAI-compatible API?",
        ),
        (
            Response.error(401, "Incorrect API key provided"),
            "api.openai.com rejected the API key (401): check providers.openai.api_key",
        ),
        (
            Response.error(404, "The model 'gpt-9' does not exist"),
            "... did not find what the chat request named (404: The model 'gpt-9' does not "
            "exist): check the model id and providers.openai.base_url",
        ),
        (
            Response.raw(b"{not json"),
            "... sent a response that is not JSON: "
            "is providers.openai.base_url an OpenAI-compatible API?",
        ),
    ],
)
async def test_documented_provider_errors_are_what_a_turn_says(
    tmp_path: Path, response: Response, line: str
) -> None:
    pytest.importorskip("nanobot_provider_openai", reason="the provider plugin is not installed")
    quoted("docs/plugins/provider_openai.md", line)
    with OpenAIServer() as server:
        server.chat.push(response)
        openai = {"base_url": server.base_url, "api_key": "k", "max_retries": 0}
        config = {"agent": {"model": "openai/m"}, "providers": {"openai": openai}}
        async with Harness.start(config, storage=tmp_path, entry_points=True, env={}) as bot:
            reply = await bot.say("hi")
        server_name = f"127.0.0.1:{server.port}"
    here = re.sub(r"^(\.\.\.|api\.openai\.com)", server_name, line)
    assert reply.text == f"Sorry, I couldn't answer: {here}"


async def test_the_documented_video_size_refusal_is_what_a_turn_says(tmp_path: Path) -> None:
    pytest.importorskip("nanobot_video_ffmpeg", reason="the video plugin is not installed")
    if shutil.which("ffmpeg") is None and importlib.util.find_spec("imageio_ffmpeg") is None:
        pytest.skip("no ffmpeg here (system package or imageio-ffmpeg)")
    line = "the file is 125.8 MB, 20.9 MB over the 104.9 MB limit."
    quoted("docs/plugins/video_ffmpeg.md", line)
    video = tmp_path / "clip.mp4"
    with video.open("wb") as file:
        file.truncate(104_857_600 + 20_900_000)  # sparse: nothing is written
    attachment = Attachment.from_path(video, AttachmentKind.VIDEO, mime_type="video/mp4")
    async with Harness.start({}, storage=tmp_path / "s", entry_points=True, env={}) as bot:
        reply = await bot.say(attachments=[attachment])
    assert reply.text == f"clip.mp4: {line}"


async def test_documented_command_answers_are_what_the_core_says(tmp_path: Path) -> None:
    for doc in ("README.md", "docs/cli.md", "docs/configuration.md"):
        quoted(doc, UNKNOWN)
    quoted("docs/cli.md", VOICE_USAGE.format(argument="maybe"))
    quoted("docs/cli.md", REPL_HINT)
    async with Harness.start({}, storage=tmp_path) as bot:
        assert (await bot.say("/nope")).text == UNKNOWN
        assert (await bot.say("/voice maybe")).text == VOICE_USAGE.format(argument="maybe")


async def test_the_documented_rate_limit_refusal_is_what_a_turn_says(tmp_path: Path) -> None:
    line = "You're sending messages faster than I can answer — try again in 12 seconds."
    assert f'*"{line}"*' in text_of(ROOT / "docs" / "limits.md")
    config = {"limits": {"turn": "1/12 seconds"}}
    async with Harness.start(config, storage=tmp_path) as bot:
        await bot.say("one")
        assert (await bot.say("two")).text == line


def test_an_empty_plugin_list_still_loads_the_built_ins(tmp_path: Path) -> None:
    assert "always load" in text_of(ROOT / "docs" / "cli.md")
    result = nanobot(tmp_path, "plugins", "--json", NANOBOT_LOAD_PLUGINS="")
    assert result.returncode == 0, result.stderr
    status = {p["name"]: p["status"] for p in json.loads(result.stdout)}
    assert {n for n, s in status.items() if s == "loaded"} == {"console", "echo", "media"}
    assert {s for n, s in status.items() if n not in ("console", "echo", "media")} <= {"blocked"}
