"""The configuration: one TOML file, structured once into attrs classes.

Core sections are structured here; each plugin's table is structured into the
config class the plugin registered. Every problem becomes one line naming its
key path; secrets are resolved at load and never shown.
"""

from __future__ import annotations

import codecs
import math
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import attrs
import cattrs
import platformdirs
from attrs import field, frozen

from .errors import ConfigError
from .registry import Kind, Registration, Registry
from .secrets import Secret, structure_secret

ENV_CONFIG = "NANOBOT_CONFIG"
FILE_NAME = "nanobot.toml"

_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+\s*)?(second|minute|hour|day)s?\s*$")
_RATE_MAX = 10**9  # counts and periods past this are typos, and their ratio stays a usable float

# Integers go to SQLite, trio and the C library: all of them take a signed 64-bit value.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
MAX_FILE_BYTES = 1_000_000  # a config file; the starter is ~5 KB
MAX_DEPTH = 32  # tables and lists inside each other; no real config needs more than 5


@frozen
class Rate:
    """``count`` events per ``period`` seconds, written ``"30/minute"`` or ``"3/5 minutes"``."""

    count: int
    period: float

    @classmethod
    def parse(cls, text: str) -> Rate:
        match = _RATE.match(text)
        if not match:
            raise ValueError(
                f'expected "N/PERIOD" such as "30/minute" or "3/5 minutes", got {text!r}'
            )
        count, multiple, unit = match.groups()
        if max(int(count[:12]), int((multiple or "1").strip()[:12])) > _RATE_MAX:
            raise ValueError(f"a rate's count and period are at most {_RATE_MAX:,}, got {text!r}")
        period = int(multiple or 1) * _PERIODS[unit]
        if int(count) < 1 or period < 1:
            raise ValueError(f"a rate needs a count and a period of at least 1, got {text!r}")
        return cls(int(count), float(period))

    def __str__(self) -> str:
        return f"{self.count}/{int(self.period)} seconds"


class FieldError(ValueError):
    """A validator's complaint about one field, so the error can name the field's key path."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field_name = field_name


def _finite(attribute: attrs.Attribute[Any], value: float) -> None:
    """NaN passes every comparison test and infinity overflows deadlines: both are refused."""
    if isinstance(value, float) and not math.isfinite(value):
        raise FieldError(attribute.name, f"must be a finite number, got {value}")


def _positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    _finite(attribute, value)
    if not value > 0:
        raise FieldError(attribute.name, f"must be greater than 0, got {value}")


def _not_negative(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    _finite(attribute, value)
    if not value >= 0:
        raise FieldError(attribute.name, f"must be 0 or more, got {value}")


# nanobot_core.validators offers these (and more) to plugins; config cannot import
# it without a cycle, so the two it needs are defined here and re-used there.


@frozen
class AgentConfig:
    model: str = "echo/echo"
    system_prompt: str = "You are a helpful assistant."
    max_tool_iterations: int = field(default=10, validator=_positive)
    history_messages: int = field(default=40, validator=_not_negative)

    @property
    def model_provider(self) -> str:
        return self.model.partition("/")[0]

    @property
    def model_id(self) -> str:
        return self.model.partition("/")[2]


@frozen
class VoiceConfig:
    reply: Literal["off", "inbound", "always"] = "inbound"
    synthesizer: str | None = None
    transcriber: str | None = None
    language: str | None = None


@frozen
class LimitsConfig:
    turn: Rate = Rate(30, 60)
    transcription: Rate = Rate(20, 60)
    speech: Rate = Rate(10, 60)
    video: Rate = Rate(3, 300)
    scope: Literal["channel", "global"] = "channel"
    max_users: int = field(default=100_000, validator=_positive)


def _default_storage() -> Path:
    return Path(platformdirs.user_data_dir("nanobot"))


@frozen
class StorageConfig:
    path: Path = field(factory=_default_storage)


@frozen
class RuntimeConfig:
    max_concurrent_chats: int = field(default=32, validator=_positive)
    queue_size: int = field(default=8, validator=_positive)
    turn_timeout: float = field(default=600.0, validator=_positive)
    shutdown_grace: float = field(default=3.0, validator=_positive)
    restart_delay: float = field(default=1.0, validator=_positive)
    replay_window: float = field(default=300.0, validator=_positive)


@frozen
class CoreConfig:
    """The core's own sections, and the raw plugin tables (structured separately)."""

    agent: AgentConfig = AgentConfig()
    voice: VoiceConfig = VoiceConfig()
    limits: LimitsConfig = LimitsConfig()
    storage: StorageConfig = field(factory=StorageConfig)
    runtime: RuntimeConfig = RuntimeConfig()
    channels: dict[str, dict[str, Any]] = field(factory=dict)
    providers: dict[str, dict[str, Any]] = field(factory=dict)
    speech: dict[str, dict[str, Any]] = field(factory=dict)
    media: dict[str, dict[str, Any]] = field(factory=dict)
    tools: dict[str, dict[str, Any]] = field(factory=dict)


@frozen
class Config:
    """A loaded configuration: core settings and each enabled plugin's config object."""

    core: CoreConfig
    plugins: Mapping[tuple[Kind, str], Any]
    source: Path | None = None

    @property
    def agent(self) -> AgentConfig:
        return self.core.agent

    @property
    def voice(self) -> VoiceConfig:
        return self.core.voice

    @property
    def limits(self) -> LimitsConfig:
        return self.core.limits

    @property
    def storage(self) -> StorageConfig:
        return self.core.storage

    @property
    def runtime(self) -> RuntimeConfig:
        return self.core.runtime

    def enabled(self, kind: Kind) -> list[str]:
        return sorted(name for k, name in self.plugins if k is kind)

    def plugin_config(self, kind: Kind, name: str) -> Any:
        return self.plugins[(kind, name)]


# --- finding the file ----------------------------------------------------------------


def find_config(explicit: Path | None, env: Mapping[str, str], cwd: Path) -> Path | None:
    """``-c``, then ``$NANOBOT_CONFIG``, then ``./nanobot.toml``, then the user config dir."""
    for named in (explicit, env.get(ENV_CONFIG) or None):
        if named is not None:
            path = Path(named).expanduser()
            try:
                found = path.stat()
            except FileNotFoundError:
                raise ConfigError(f"config file not found: {path}") from None
            except OSError as error:  # a folder on the way that we may not enter
                raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
            if stat.S_ISDIR(found.st_mode):
                raise ConfigError(f"config file {path} is a directory")
            return path
    for candidate in (cwd / FILE_NAME, Path(platformdirs.user_config_dir("nanobot")) / FILE_NAME):
        if candidate.is_file():
            return candidate
    return None


def read_toml(path: Path) -> dict[str, Any]:
    """Parse a config file: UTF-8 TOML of at most ``MAX_FILE_BYTES``, nested ``MAX_DEPTH`` deep.

    Every problem is one ``ConfigError`` line naming the file.
    """
    text = _read_text(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as error:  # a number tomllib cannot convert, such as a 5,000-digit one
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    where = _too_deep(raw)
    if where is not None:
        raise ConfigError(f"{path}: {where}: nested more than {MAX_DEPTH} levels deep")
    return raw


def _read_text(path: Path) -> str:
    try:
        if not path.is_file():  # a FIFO or a device would be read forever
            raise ConfigError(f"cannot read config file {path}: not a regular file")
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"config file {path} is larger than {MAX_FILE_BYTES:,} bytes")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ConfigError(f"{path}: the file is UTF-16; save it as UTF-8")
    try:
        return data.decode("utf-8-sig")  # a UTF-8 byte-order mark (Windows Notepad) is fine
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ConfigError(
            f"{path}: line {line}: not UTF-8 text (byte 0x{data[error.start]:02x});"
            " save the file as UTF-8"
        ) from None


def _too_deep(raw: Any) -> str | None:
    """The key path of the first value nested past ``MAX_DEPTH``, found without recursion."""
    stack: list[tuple[Any, str, int]] = [(raw, "top level", 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            return where
        if isinstance(value, dict):
            prefix = "" if depth == 0 else f"{where}."
            stack += [(v, f"{prefix}{k}", depth + 1) for k, v in value.items()]
        elif isinstance(value, list):
            stack += [(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    return None


DEFAULT_TABLES: dict[str, Any] = {"channels": {"console": {}}}


def resolve_path(value: str, base: Path | None) -> Path:
    """``~`` expanded; a relative path is taken from ``base`` (the config file's folder)."""
    path = Path(value).expanduser()
    if base is None or path.is_absolute():
        return path
    return Path(os.path.normpath(Path(os.path.abspath(base)) / path))


# --- structuring ---------------------------------------------------------------------


def make_converter(env: Mapping[str, str], base: Path | None = None) -> cattrs.Converter:
    """A strict converter: unknown keys are errors, no ``"4"`` → 4, no ``"yes"`` → True.

    Numbers must be usable: integers fit in 64 bits, floats are finite. Relative
    paths (``Path`` fields and ``{ file = ... }`` secrets) are taken relative to
    ``base``, the config file's folder; ``~`` is expanded.
    """
    converter = cattrs.Converter(forbid_extra_keys=True)

    def exact(kind: type, label: str) -> Any:
        def hook(value: Any, _: type) -> Any:
            if type(value) is not kind:
                raise ValueError(f"expected {label}, got {_describe(value)}")
            return value

        return hook

    def integer(value: Any, _: type) -> int:
        if type(value) is not int:
            raise ValueError(f"expected an integer, got {_describe(value)}")
        if not INT_MIN <= value <= INT_MAX:
            raise ValueError(f"must be between {INT_MIN} and {INT_MAX}, got {value}")
        return value

    converter.register_structure_hook(bool, exact(bool, "true or false"))
    converter.register_structure_hook(int, integer)
    converter.register_structure_hook(str, exact(str, "a string"))

    def number(value: Any, _: type) -> float:
        if type(value) not in (int, float):
            raise ValueError(f"expected a number, got {_describe(value)}")
        try:
            result = float(value)
        except OverflowError:  # an integer with more than 308 digits
            raise ValueError("must be a finite number, got an integer past 1e308") from None
        if not math.isfinite(result):  # TOML's nan and inf, and 1e400, which reads as inf
            raise ValueError(f"must be a finite number, got {result}")
        return result

    converter.register_structure_hook(float, number)

    def path(value: Any, _: type) -> Path:
        if type(value) is not str:
            raise ValueError(f"expected a path, got {_describe(value)}")
        if not value:
            raise ValueError("expected a path, got an empty string")
        return resolve_path(value, base)

    converter.register_structure_hook(Path, path)
    converter.register_structure_hook(
        Secret,
        lambda value, _: structure_secret(value, env, resolve=lambda p: resolve_path(p, base)),
    )

    def rate(value: Any, _: type) -> Rate:
        if type(value) is not str:
            raise ValueError(f'expected a rate such as "30/minute", got {_describe(value)}')
        return Rate.parse(value)

    converter.register_structure_hook(Rate, rate)

    def literal(value: Any, type_: Any) -> Any:
        allowed = get_args(type_)
        if not any(type(value) is type(a) and value == a for a in allowed):
            got = repr(value) if isinstance(value, str) else _describe(value)
            raise ValueError(f"expected one of {', '.join(map(repr, allowed))}, got {got}")
        return value

    def is_literal(type_: Any) -> bool:
        return get_origin(type_) is Literal

    converter.register_structure_hook_func(is_literal, literal)
    return converter


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def _error_lines(error: Exception, path: str) -> list[str]:
    def fmt(exc: BaseException, type_: type | None) -> str:
        if isinstance(exc, cattrs.ForbiddenExtraKeysError):
            return f"unknown key {', '.join(sorted(map(repr, exc.extra_fields)))}"
        if isinstance(exc, FieldError):
            return f"{exc.field_name}\x1f{exc}"
        if isinstance(exc, KeyError):
            return "required key missing"
        if isinstance(exc, TypeError | AttributeError) and _is_table(type_):
            return "expected a table"  # cattrs met a scalar where a table belongs
        if isinstance(exc, ValueError | TypeError):
            return str(exc)
        return cattrs.v.format_exception(exc, type_)

    lines = []
    for line in cattrs.transform_error(error, path=path, format_exception=fmt):
        message, _, where = line.rpartition(" @ ")
        where = re.sub(r"\['([^']*)'\]", r".\1", where)  # channels['x'] -> channels.x
        if message == "expected a mapping":
            message = "expected a table"
        if "\x1f" in message:  # a FieldError: the failing field is below the reported path
            name, _, message = message.partition("\x1f")
            where = f"{where}.{name}"
        # Key paths as the TOML file spells them: agent.model, channels.telegram.api_id.
        where = "top level" if where == path == "config" else where.removeprefix("config.")
        lines.append(f"{where}: {message}")
    return lines


def _is_table(type_: type | None) -> bool:
    return type_ is not None and (attrs.has(type_) or get_origin(type_) in (dict, Mapping))


def structure(converter: cattrs.Converter, raw: Any, cls: type, path: str) -> tuple[Any, list[str]]:
    """Structure ``raw`` into ``cls``; returns the object or the error lines."""
    try:
        return converter.structure(raw, cls), []
    except Exception as error:  # cattrs wraps everything it meets in its groups
        if isinstance(error, cattrs.BaseValidationError):
            return None, _error_lines(error, path)
        return None, [f"{path}: {error}"]


def load_config(
    raw: Mapping[str, Any],
    registry: Registry,
    *,
    env: Mapping[str, str] | None = None,
    source: Path | None = None,
) -> Config:
    """Structure a parsed TOML document; raise ``ConfigError`` listing every problem."""
    env = os.environ if env is None else env
    converter = make_converter(env, base=source.parent if source else None)
    where = f" (in {source})" if source else ""
    core, errors = structure(converter, dict(raw), CoreConfig, "config")
    if core is None:
        raise ConfigError("\n".join(e + where for e in errors))
    plugins: dict[tuple[Kind, str], Any] = {}
    errors += _check_model(core.agent, registry)
    for kind, name in _wanted(core, registry, errors):
        registration = registry.get(kind, name)
        assert registration is not None
        table = dict(getattr(core, kind.table).get(name, {}))
        enabled = table.pop("enabled", True)
        if type(enabled) is not bool:  # channels, tools and media were checked in _wanted
            errors.append(
                f"{kind.table}.{name}.enabled: expected true or false, got {_describe(enabled)}"
            )
        elif not enabled:  # a selected provider or synthesizer cannot be off
            errors.append(
                f"{kind.table}.{name}.enabled: is false, but {kind.label} {name!r} is selected"
            )
        value, problems = structure(converter, table, registration.config, f"{kind.table}.{name}")
        errors += problems
        if value is not None:
            plugins[(kind, name)] = value
    if errors:  # a table shared by two registrations (providers.openai) reports once
        raise ConfigError("\n".join(dict.fromkeys(e + where for e in errors)))
    return Config(core=core, plugins=plugins, source=source)


def _check_model(agent: AgentConfig, registry: Registry) -> list[str]:
    provider, slash, model_id = agent.model.partition("/")
    if not slash or not provider or not model_id:
        line = f'agent.model: expected "<chat model>/<model id>", got {agent.model!r}'
        if not slash and agent.model:  # a bare model id: show it under the installed models
            forms = [f'"{name}/{agent.model}"' for name in _real_chat_models(registry)]
            line += f"; did you mean {' or '.join(forms)}?" if forms else ""
        return [line]
    return []


def _real_chat_models(registry: Registry) -> list[str]:
    """Installed chat model names; the debug model ``echo`` only when it is the only one."""
    names = registry.names(Kind.CHAT_MODEL)
    return [name for name in names if name != "echo"] or names


def _wanted(core: CoreConfig, registry: Registry, errors: list[str]) -> list[tuple[Kind, str]]:
    """Which registrations the configuration enables, by the rules of each kind."""
    wanted: list[tuple[Kind, str]] = []

    def is_on(table: Mapping[str, Any], name: str, path: str) -> bool:
        value = table.get(name, {}).get("enabled", True)
        if type(value) is not bool:
            errors.append(f"{path}.enabled: expected true or false, got {_describe(value)}")
            return False
        return value

    for kind in (Kind.CHANNEL, Kind.TOOL):
        for name in getattr(core, kind.table):
            if _known(registry, (kind,), name, f"{kind.table}.{name}", errors) and is_on(
                getattr(core, kind.table), name, f"{kind.table}.{name}"
            ):
                wanted.append((kind, name))
    for name in core.media:
        _known(registry, (Kind.MEDIA,), name, f"media.{name}", errors)
    for name in registry.names(Kind.MEDIA):
        if is_on(core.media, name, f"media.{name}"):
            wanted.append((Kind.MEDIA, name))
    for name in core.speech:
        _known(registry, (Kind.SPEECH,), name, f"speech.{name}", errors)
    for name in core.providers:
        _known(registry, (Kind.CHAT_MODEL, Kind.TRANSCRIBER), name, f"providers.{name}", errors)
    # a model without "<chat model>/" is reported once, by _check_model
    model = core.agent.model_provider if "/" in core.agent.model else ""
    selected = [
        (Kind.CHAT_MODEL, model, "agent.model"),
        (Kind.TRANSCRIBER, core.voice.transcriber, "voice.transcriber"),
        (Kind.SPEECH, core.voice.synthesizer, "voice.synthesizer"),
    ]
    for kind, name, path in selected:
        if name and _known(registry, (kind,), name, path, errors):
            wanted.append((kind, name))
    return wanted


def _known(
    registry: Registry, kinds: tuple[Kind, ...], name: str, path: str, errors: list[str]
) -> bool:
    if any(registry.get(kind, name) for kind in kinds):
        return True
    installed = sorted({n for kind in kinds for n in registry.names(kind)})
    label = " or ".join(kind.label for kind in kinds)
    errors.append(
        f"{path}: no installed plugin provides {label} {name!r}"
        f" (installed: {', '.join(installed) or 'none'})"
    )
    return False


def registration_for(config: Config, registry: Registry, kind: Kind, name: str) -> Registration:
    registration = registry.get(kind, name)
    if registration is None or (kind, name) not in config.plugins:
        raise ConfigError(f"{kind.label} {name!r} is not enabled in the configuration")
    return registration
