"""Lint, type-check, test (core + every plugin), one isolation session per plugin, bench.

``nox`` runs lint, typecheck and tests; ``nox -s isolation`` checks each plugin
with only the core beside it; ``nox -s bench`` prints the measured claims;
``nox -s mutation`` prints the kill rates of a mutation pass over the small core modules.
"""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests", "isolation"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
PLUGINS = sorted(p.parent.name for p in ROOT.glob("plugins/*/pyproject.toml"))
PYTHON = "3.11"


# In-tree plugins a plugin depends on (installed from here, not from the package index).
LOCAL_DEPENDENCIES = {"tts_openai": ["provider_openai"]}


def _plugin_spec(name: str) -> str:
    return f"-e./plugins/{name}[test]"


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    session.install("ruff==0.17.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    session.install("mypy==2.4.1", "-e.[testing]")
    session.run("mypy", "--strict", "nanobot_core")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The core and every plugin, installed together (editable)."""
    session.install("-e.[testing]", *(_plugin_spec(name) for name in PLUGINS))
    paths = ["tests", *(f"plugins/{name}/tests" for name in PLUGINS)]
    session.run("pytest", *paths, *session.posargs)


@nox.session(python=PYTHON)
@nox.parametrize("plugin", PLUGINS)
def isolation(session: nox.Session, plugin: str) -> None:
    """One plugin with only the core beside it: its own tests pass on their own."""
    local = [f"-e./plugins/{name}" for name in LOCAL_DEPENDENCIES.get(plugin, [])]
    session.install("-e.[testing]", *local, _plugin_spec(plugin))
    session.run("pytest", f"plugins/{plugin}/tests", *session.posargs)


@nox.session(python=PYTHON)
@nox.parametrize("ffmpeg", ["bundled", "system"])
def video(session: nox.Session, ffmpeg: str) -> None:
    """The video plugin's tests on one ffmpeg: the bundled one, or the system's
    (/usr/bin/ffmpeg, skipped when absent). ``tests`` runs them on both."""
    session.install("-e.[testing]", _plugin_spec("video_ffmpeg"))
    env = {"NANOBOT_TEST_FFMPEG": ffmpeg}
    session.run("pytest", "plugins/video_ffmpeg/tests", *session.posargs, env=env)


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Print the measured claims (medians, side by side) — see benchmarks/README.md."""
    session.install("-e.[testing]", *(_plugin_spec(name) for name in PLUGINS), "psutil", "limits")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session(python=PYTHON)
def mutation(session: nox.Session) -> None:
    """Mutate the core's small modules against their own tests; print the kill rates.

    Not in the default run. ``nox -s mutation -- voice --show`` for one module's list;
    see tests/tooling/mutate.py (equivalent mutants: tests/tooling/equivalent_mutants.toml).
    """
    session.install("-e.[testing]")
    args = session.posargs or [
        *("limits", "access", "commands", "voice", "secrets", "sessions"),
        *("--sample", "40", "--fail-under", "90"),
    ]
    session.run("python", "tests/tooling/mutate.py", *args)
