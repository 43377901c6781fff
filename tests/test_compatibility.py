"""The plugin API contract: version checks at load time, deprecations, documented public names."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import textwrap
import tomllib
import uuid
import warnings
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import nanobot_core
from nanobot_core.deprecations import Deprecation, Deprecations, PluginDeprecationWarning
from nanobot_core.plugins import ENV_ALLOW, GROUP, PluginInfo, Plugins, incompatibility
from nanobot_core.registry import Kind
from nanobot_core.version import PLUGIN_API_VERSION, __version__

ROOT = Path(__file__).resolve().parents[1]

PLUGIN = """
from nanobot_core import hookimpl

@hookimpl
def register_tools(register):
    register("{tool}", lambda config, host: None)
"""


def install(root: Path, monkeypatch: pytest.MonkeyPatch, name: str, requires: list[str]) -> str:
    """A real distribution with one entry point, found by ``importlib.metadata``."""
    module = f"nbcompat_{name}_{uuid.uuid4().hex[:8]}"
    (root / f"{module}.py").write_text(textwrap.dedent(PLUGIN.format(tool=f"{name}_tool")))
    info = root / f"nanobot_compat_{name}-0.3.dist-info"
    info.mkdir()
    lines = ["Metadata-Version: 2.1", f"Name: nanobot-compat-{name}", "Version: 0.3"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n")
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n{name} = {module}\n")
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delitem(sys.modules, module, raising=False)
    return module


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    return root


def loaded(site: Path, monkeypatch: pytest.MonkeyPatch, **plugins: list[str]) -> Plugins:
    for name, requires in plugins.items():
        install(site, monkeypatch, name, requires)
    return Plugins.load(env={ENV_ALLOW: ",".join(plugins)})


def by_name(plugins: Plugins, name: str) -> PluginInfo:
    (info,) = [i for i in plugins.infos if i.name == name]
    return info


def test_running_core_is_the_installed_distribution() -> None:
    assert Version(__version__) >= Version("0.1")
    assert PLUGIN_API_VERSION == "1.0"


def test_in_range_plugin_loads(site: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plugins = loaded(site, monkeypatch, fits=["nanobot-core>=0.1,<0.2", "attrs>=20"])

    assert by_name(plugins, "fits").status == "loaded"
    assert plugins.collect().get(Kind.TOOL, "fits_tool") is not None


def test_out_of_range_plugin_is_incompatible_and_not_imported(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    future = install(site, monkeypatch, "future", ["nanobot-core>=0.2,<0.3"])
    install(site, monkeypatch, "fits", ["nanobot-core>=0.1,<0.2"])

    plugins = Plugins.load(env={ENV_ALLOW: "future,fits"})

    info = by_name(plugins, "future")
    assert info.status == "incompatible"
    assert info.error == f"needs nanobot-core<0.3,>=0.2, but nanobot-core {__version__} is running"
    assert info.as_json()["status"] == "incompatible"
    assert info.as_json()["error"] == info.error
    assert future not in sys.modules
    assert plugins.failures() == [info]
    # the rest of the runtime works: the other plugin and the built-ins register
    registry = plugins.collect()
    assert registry.get(Kind.TOOL, "fits_tool") is not None
    assert registry.get(Kind.TOOL, "future_tool") is None
    assert registry.get(Kind.CHAT_MODEL, "echo") is not None
    assert registry.problems == []


def test_plugin_for_an_older_core_is_incompatible(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugins = loaded(site, monkeypatch, old=["nanobot_core<0.1"])  # any spelling of the name

    assert by_name(plugins, "old").status == "incompatible"
    assert "needs nanobot-core<0.1" in by_name(plugins, "old").error  # type: ignore[operator]


def test_plugin_without_a_core_requirement_loads(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugins = loaded(site, monkeypatch, free=[], loose=["nanobot-core"])

    assert by_name(plugins, "free").status == "loaded"
    assert by_name(plugins, "loose").status == "loaded"


def test_requirements_behind_extras_or_markers_that_do_not_apply_are_ignored(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugins = loaded(
        site,
        monkeypatch,
        extras=[
            'nanobot-core>=9; extra == "future"',
            'nanobot-core>=9; python_version < "3"',
            "nanobot-core>=0.1,<0.2",
        ],
    )

    assert by_name(plugins, "extras").status == "loaded"


def test_no_distribution_means_nothing_to_check() -> None:
    assert incompatibility(None) is None


# Deprecated protocol methods and arguments: one helper, one warning per plugin.

TRANSCRIBE = Deprecation(
    subject="Transcriber method", old="transcribe_audio", new="transcribe", since="1.0"
)
LANGUAGE = Deprecation(
    subject="Transcriber.transcribe argument", old="lang", new="language", since="1.0"
)


class OldTranscriber:
    async def transcribe_audio(self, audio: Path) -> str:
        return "old"


class NewTranscriber:
    async def transcribe(self, audio: Path) -> str:
        return "new"


async def test_deprecated_method_is_used_and_warns_once_per_plugin() -> None:
    deprecations = Deprecations()
    old = OldTranscriber()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            assert await deprecations.method(old, "oldplug", TRANSCRIBE)(Path("a")) == "old"
        assert await deprecations.method(old, "otherplug", TRANSCRIBE)(Path("a")) == "old"
        assert (
            await deprecations.method(NewTranscriber(), "newplug", TRANSCRIBE)(Path("a")) == "new"
        )

    assert [str(w.message) for w in caught] == [
        f"plugin {p!r}: Transcriber method 'transcribe_audio' is deprecated since plugin API "
        "1.0 and will be removed in 2.0: use 'transcribe' instead (see docs/compatibility.md)"
        for p in ("oldplug", "otherplug")
    ]
    assert all(w.category is PluginDeprecationWarning for w in caught)
    assert caught[0].filename == __file__  # points at the plugin's method


def test_object_without_either_method_fails_naming_the_new_one() -> None:
    with pytest.raises(AttributeError, match="transcribe"):
        Deprecations().method(object(), "p", TRANSCRIBE)


def test_deprecated_argument_is_passed_under_its_old_name_and_warns_once() -> None:
    deprecations = Deprecations()

    def old(audio: str, lang: str | None = None) -> str:
        return f"old {lang}"

    def new(audio: str, *, language: str | None = None) -> str:
        return f"new {language}"

    def anything(audio: str, **options: str) -> str:
        return f"any {options}"

    with pytest.warns(PluginDeprecationWarning) as caught:
        for _ in range(2):
            keyword = deprecations.argument(old, "oldplug", LANGUAGE)
            assert old("a", **{keyword: "fi"}) == "old fi"
        assert deprecations.argument(new, "newplug", LANGUAGE) == "language"
        assert deprecations.argument(anything, "anyplug", LANGUAGE) == "language"
        assert deprecations.argument(len, "builtin", LANGUAGE) == "language"

    assert [w.message.plugin for w in caught] == ["oldplug"]  # type: ignore[union-attr]
    assert "use 'language' instead" in str(caught[0].message)


def test_deprecation_removal_defaults_to_the_next_major() -> None:
    assert Deprecation(subject="hook", old="a", new="b", since="1.3").removed_in == "2.0"
    assert Deprecation(subject="hook", old="a", new="b", since="2.0").removed_in == "3.0"


# In-tree plugins and the documentation agree with the code.


def in_tree_plugins() -> list[Path]:
    return sorted((ROOT / "plugins").glob("*/pyproject.toml"))


@pytest.mark.parametrize("pyproject", in_tree_plugins(), ids=lambda p: p.parent.name)
def test_in_tree_plugin_declares_a_range_that_includes_this_core(pyproject: Path) -> None:
    project = tomllib.loads(pyproject.read_text())["project"]
    core = [
        Requirement(r)
        for r in project.get("dependencies", [])
        if Requirement(r).name.lower().replace("_", "-") == "nanobot-core"
    ]

    assert len(core) == 1, f"{pyproject}: declare exactly one nanobot-core requirement"
    specifier = core[0].specifier
    assert any(s.operator == "<" for s in specifier), f"{pyproject}: give an upper bound"
    assert specifier.contains(Version(__version__)), f"{pyproject}: {specifier} excludes us"


def documented_public_names() -> list[str]:
    text = (ROOT / "docs" / "compatibility.md").read_text()
    section = text.split("## Public names", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^- `([A-Za-z_][A-Za-z0-9_]*)`", section, flags=re.MULTILINE)


def test_documented_public_names_match_nanobot_core_all() -> None:
    documented = documented_public_names()

    assert len(documented) == len(set(documented)), "a name is listed twice"
    assert sorted(documented) == sorted(nanobot_core.__all__)
    for name in documented:
        assert hasattr(nanobot_core, name), name


def test_documented_names_from_submodules_exist() -> None:
    text = (ROOT / "docs" / "compatibility.md").read_text()
    section = text.split("Also covered by the API", 1)[1]
    dotted = re.findall(r"^- `(nanobot_core\.[A-Za-z0-9_.]+)`", section, flags=re.MULTILINE)

    assert len(dotted) >= 5
    for name in dotted:
        module, attribute = name.rsplit(".", 1)
        assert hasattr(importlib.import_module(module), attribute), name
    testing = importlib.import_module("nanobot_core.testing")
    documented = {n.rsplit(".", 1)[1] for n in dotted if n.count(".") == 2 and ".testing." in n}
    assert documented == set(testing.__all__)


def test_documented_api_version_is_the_declared_one() -> None:
    text = (ROOT / "docs" / "compatibility.md").read_text()

    assert f"plugin API version is **{PLUGIN_API_VERSION}**" in text
    core = Version(__version__)
    assert f"`nanobot-core` {core.major}.{core.minor}.x" in text, "update the API/core mapping"
    # the next breaking core: the minor while the core is 0.x, the major from 1.0 on
    upper = f"0.{core.minor + 1}" if core.major == 0 else f"{core.major + 1}"
    assert f"`nanobot-core>={core.major}.{core.minor},<{upper}`" in text


def test_nanobot_plugins_json_carries_status_and_reason(
    site: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install(site, monkeypatch, "future", ["nanobot-core>=0.2,<0.3"])
    install(site, monkeypatch, "fits", ["nanobot-core>=0.1,<0.2"])
    broken = install(site, monkeypatch, "broken", ["nanobot-core>=0.1,<0.2"])
    (site / f"{broken}.py").write_text("raise ImportError('needs libfoo')\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        ENV_ALLOW: "future,fits,broken",
        "HOME": str(tmp_path),
    }
    env.pop("NANOBOT_CONFIG", None)

    done = subprocess.run(
        [sys.executable, "-c", "from nanobot_core.cli import main; main()", "plugins", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    listed = {entry["name"]: entry for entry in json.loads(done.stdout)}
    assert listed["future"] == {
        "name": "future",
        "distribution": "nanobot-compat-future",
        "version": "0.3",
        "hooks": [],
        "status": "incompatible",
        "error": f"needs nanobot-core<0.3,>=0.2, but nanobot-core {__version__} is running",
    }
    assert listed["broken"]["status"] == "failed"
    assert listed["broken"]["error"] == "import failed: ImportError: needs libfoo"
    assert listed["fits"]["status"] == "loaded"
    assert listed["fits"]["hooks"] == ["register_tools"]
    assert listed["echo"]["status"] == "loaded"
