"""The ``nanobot`` command line. Plugins add commands through ``register_commands``."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sqlite3
import sys
import warnings
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
import trio
from attrs import define, field

from . import kinds, logs
from .config import DEFAULT_TABLES, Config, find_config, load_config, read_toml
from .deprecations import PluginDeprecationWarning
from .errors import NanobotError
from .messages import Attachment, AttachmentKind, TurnStatus
from .plugins import Plugins
from .registry import Kind, Registry
from .storage import StorageLock, check_storage
from .version import __version__

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger("nanobot")

EXIT_CONFIG = 1
EXIT_TURN = 2


@define
class App:
    """What every command shares: the loaded plugins, the environment, the log formatter."""

    plugins: Plugins
    env: Mapping[str, str]
    formatter: logs.RedactingFormatter | None = None
    _registry: Registry | None = field(default=None, init=False)

    @property
    def registry(self) -> Registry:
        if self._registry is None:
            self._registry = self.plugins.collect()
        return self._registry

    def load(self, explicit: Path | None) -> Config:
        """Find, read and structure the configuration (raises ``NanobotError``)."""
        registry = self.registry  # a plugin with problems is marked failed, the rest work
        path = find_config(explicit, self.env, Path.cwd())
        if path is None:
            click.echo(
                "nanobot: no config file found; using built-in defaults (console channel, "
                "echo model). `nanobot init` writes one.",
                err=True,
            )
            raw: dict[str, Any] = dict(DEFAULT_TABLES)
        else:
            raw = read_toml(path)
        config = load_config(raw, registry, env=self.env, source=path)
        if self.formatter is not None:
            for plugin_config in config.plugins.values():
                self.formatter.secrets.update(logs.secrets_in(plugin_config))
        return config

    def runtime(self, explicit: Path | None) -> Runtime:
        """Load the config and build the runtime; a problem ends the command with exit 1."""
        from .runtime import Runtime

        try:
            runtime = Runtime.create(self.load(explicit), self.registry)
        except NanobotError as error:
            fail(str(error))
        for gone in runtime.components.missing:  # nanobot runs on without it
            click.echo(f"{'error' if gone.configured else 'warning'}: {gone.line}", err=True)
        return runtime

    def lock_storage(self, runtime: Runtime, *, exclusive: bool) -> StorageLock:
        """Hold the store for this process (see ``storage``); a refusal ends with exit 1."""
        try:
            return StorageLock.acquire(runtime.storage_path, exclusive=exclusive)
        except NanobotError as error:
            fail(str(error))


pass_app = click.make_pass_decorator(App)
config_option = click.option(
    "-c",
    "--config",
    "config_path",
    # No checks by click: they exit 2; nanobot's own say why in one line and exit 1.
    type=click.Path(readable=False, path_type=Path),
    help="Config file (else $NANOBOT_CONFIG, ./nanobot.toml, the user config dir).",
)


def fail(message: str, code: int = EXIT_CONFIG) -> NoReturn:
    """Print each line of ``message`` as ``error: ...`` (secrets redacted) and exit."""
    context = click.get_current_context(silent=True)
    app = context.find_object(App) if context is not None else None
    if app is not None and app.formatter is not None:
        message = logs.redact(message, app.formatter.secrets)
    for line in str(message).splitlines() or [""]:
        click.echo(f"error: {line}", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nanobot")
@click.option(
    "--log-level",
    envvar=logs.ENV_LEVEL,
    default="warning",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help=f"Logging detail on stderr (also ${logs.ENV_LEVEL}).",
)
@click.pass_context
def cli(ctx: click.Context, log_level: str) -> None:
    """nanobot: a personal AI agent runtime whose every capability is a plugin."""
    app = ctx.ensure_object(App)
    app.formatter = logs.setup(log_level)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@pass_app
def plugins(app: App, as_json: bool) -> None:
    """List plugins: name, version, hooks and status (loaded, failed, blocked, incompatible)."""
    from .components import unavailable

    infos = app.plugins.infos
    missing: dict[str, list[str]] = {}
    registry = app.registry  # collecting marks plugins whose hooks fail
    for gone in unavailable(registry):
        registration = registry.get(gone.kind, gone.name)
        assert registration is not None
        missing.setdefault(registration.plugin, []).append(gone.line)
    if as_json:
        listed = [info.as_json() for info in infos]
        for entry in listed:  # a loaded plugin whose tool is missing: the reason in "error"
            if not entry["error"] and entry["name"] in missing:
                entry["error"] = "; ".join(missing[entry["name"]])
        click.echo(json.dumps(listed, indent=2))
        return
    click.echo(f"{'NAME':<16} {'VERSION':<10} {'STATUS':<12} HOOKS")
    for info in infos:
        version = info.version or "built-in"
        line = f"{info.name:<16} {version:<10} {info.status:<12} {', '.join(info.hooks)}"
        click.echo(line.rstrip())
        if info.error:
            click.echo(f"  {info.error}")
        for text in missing.get(info.name, []):
            click.echo(f"  {text}")


@cli.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@pass_app
def init(app: App, path: Path | None, force: bool) -> None:
    """Write a commented starter config (default ./nanobot.toml) for the installed plugins."""
    from .config import StorageConfig
    from .starter import render

    path = path or Path("nanobot.toml")
    if path.exists() and not force:
        fail(f"{path} already exists (use --force to overwrite)")
    text = render(app.registry, StorageConfig().path)
    partial_path = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial_path.write_text(text, encoding="utf-8")
        os.replace(partial_path, path)
    except OSError as error:
        with contextlib.suppress(OSError):  # its folder may be what failed
            partial_path.unlink(missing_ok=True)
        fail(f"cannot write {path}: {error.strerror} ({error.filename})")
    click.echo(f"wrote {path}; check it with `nanobot check -c {path}`")


@cli.command()
@config_option
@pass_app
def check(app: App, config_path: Path | None) -> None:
    """Validate the configuration and build every enabled plugin object."""
    try:
        runtime = app.runtime(config_path)
    finally:
        _plugin_warnings(app)
    config = runtime.config
    problem = check_storage(config.storage.path)
    if problem:
        fail(problem)
    if any(gone.configured for gone in runtime.components.missing):
        sys.exit(EXIT_CONFIG)  # its table is in the file: the user wants it
    where = str(config.source) if config.source else "built-in defaults"
    enabled = ", ".join(config.enabled(Kind.CHANNEL)) or "none"
    click.echo(f"ok: {where} (model {config.agent.model}; channels: {enabled})")
    # A plugin object may say where its settings came from (never their values).
    described = (getattr(obj, "describe_setup", None) for obj in runtime.components.objects())
    for line in dict.fromkeys(str(describe()) for describe in described if callable(describe)):
        click.echo(f"  {line}")


def _plugin_warnings(app: App) -> None:
    for info in app.plugins.failures():
        click.echo(f"warning: plugin {info.name} {info.status}: {info.error}", err=True)


@cli.command()
@config_option
@pass_app
def run(app: App, config_path: Path | None) -> None:
    """Run every enabled channel until SIGINT, SIGTERM or SIGHUP."""
    runtime = app.runtime(config_path)
    if not runtime.components.channels:
        fail("no channel is enabled: add a [channels.NAME] section")
    with app.lock_storage(runtime, exclusive=True):  # channels answer from one process only
        _serve(partial(runtime.run), runtime)


@cli.command()
@config_option
@click.option("-m", "--message", help="Send one message, print the reply and exit.")
@click.option(
    "--attach",
    "attachments",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Attach a file (image, audio, video...); repeatable.",
)
@click.option("--session", default="", help="Conversation name, to keep several apart.")
@click.option(
    "--audio-out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where voice replies are written.",
)
@pass_app
def chat(
    app: App,
    config_path: Path | None,
    message: str | None,
    attachments: tuple[Path, ...],
    session: str,
    audio_out: Path,
) -> None:
    """Talk to nanobot in the terminal: one turn with -m, a REPL without (/help, /quit)."""
    from .builtins.console import NAME, ConsoleChannel

    files = [_attachment(path) for path in attachments]
    runtime = app.runtime(config_path)
    console = ConsoleChannel(
        host=runtime, message=message, attachments=files, session=session, audio_out=audio_out
    )
    with app.lock_storage(runtime, exclusive=False):  # chats share; a `run` has it alone
        _serve(partial(runtime.run, {NAME: console}), runtime)
    if any(status is not TurnStatus.OK for status in console.statuses):
        sys.exit(EXIT_TURN)


def _attachment(path: Path) -> Attachment:
    if not path.is_file():
        fail(f"attachment not found: {path}", EXIT_TURN)
    try:
        sniffed = kinds.sniff(path)  # by content: a name or mimetypes would mislead
    except OSError as error:
        fail(f"attachment not readable: {path}: {error.strerror}", EXIT_TURN)
    if sniffed is None:
        return Attachment.from_path(path, AttachmentKind.DOCUMENT)
    voice = sniffed.kind is AttachmentKind.AUDIO and sniffed.mime == "audio/ogg"
    kind = AttachmentKind.VOICE if voice else sniffed.kind
    return Attachment.from_path(path, kind, mime_type=sniffed.mime)


def shutdown_signals() -> list[signal.Signals]:
    """SIGINT, SIGTERM and SIGHUP (a closed terminal, ``systemctl reload``, ``kill -HUP``).

    SIGHUP is left alone when it is ignored at start-up: ``nohup nanobot run`` asked for that.
    """
    wanted = [signal.SIGINT, signal.SIGTERM]
    hangup = getattr(signal, "SIGHUP", None)
    if hangup is not None and signal.getsignal(hangup) is not signal.SIG_IGN:
        wanted.append(hangup)
    return wanted


def _serve(main: Callable[[], Any], runtime: Runtime) -> None:
    """Run under trio; the first shutdown signal stops gracefully, a second exits at once."""

    async def serve() -> None:
        async with trio.open_nursery() as outer:
            with trio.open_signal_receiver(*shutdown_signals()) as signals:
                work = trio.CancelScope()
                outer.start_soon(_watch, signals, work, runtime)
                with work:
                    await main()
                outer.cancel_scope.cancel()

    try:
        trio.run(serve)
        if runtime.fatal:
            fail("\n".join(runtime.fatal))
    except BaseExceptionGroup as group:
        leaf = _single(group)
        if isinstance(leaf, NanobotError | OSError | sqlite3.Error):
            _fail_with(leaf, runtime)
        raise
    except (NanobotError, OSError, sqlite3.Error) as error:
        _fail_with(error, runtime)


def _fail_with(error: BaseException, runtime: Runtime) -> NoReturn:
    """One line for what stopped the runtime: a config problem, the disk or the store."""
    if isinstance(error, sqlite3.Error):  # the store is the only SQLite that reaches here
        fail(f"storage.path: cannot use the store in {runtime.storage_path}: {error}")
    if isinstance(error, OSError):
        fail(f"{error.strerror}: {error.filename}" if error.filename else str(error))
    fail(str(error))


async def _watch(signals: Any, work: trio.CancelScope, runtime: Runtime) -> None:
    stopping = False
    async for signum in signals:
        if stopping:
            os._exit(128 + signum)
        stopping = True
        log.warning("received %s; shutting down", signal.Signals(signum).name)
        runtime.stop()
        # Whatever does not end within the grace period is cancelled outright.
        work.deadline = trio.current_time() + runtime.config.runtime.shutdown_grace + 1


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    leaves = group.exceptions
    while len(leaves) == 1 and isinstance(leaves[0], BaseExceptionGroup):
        leaves = leaves[0].exceptions
    return leaves[0] if len(leaves) == 1 else group


def main() -> None:
    """Entry point of the ``nanobot`` console script."""
    warnings.simplefilter("default", PluginDeprecationWarning)  # shown to users, once each
    plugins = Plugins.load()
    app = App(plugins=plugins, env=os.environ)
    for impl in plugins.pm.hook.register_commands.get_hookimpls():
        try:
            impl.function(cli=cli)
        except Exception as error:  # one plugin's broken command never takes the CLI down
            click.echo(
                f"warning: plugin {impl.plugin_name} could not add commands: {error}", err=True
            )
    cli(obj=app)
