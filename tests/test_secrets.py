"""Secrets never reach logs, errors or ``nanobot check`` output, even from a careless plugin."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

from nanobot_core import ConfigError, Secret, hookimpl
from nanobot_core.cli import App, cli
from nanobot_core.logs import RedactingFormatter, secrets_in
from nanobot_core.plugins import Plugins
from nanobot_core.secrets import structure_secret

SECRET = "tok-1234567890-abcdef"


@attrs.frozen
class LeakyConfig:
    token: Secret
    fail: bool = False


@attrs.define(eq=False)
class LeakyChannel:
    async def run(self, **kwargs: Any) -> None:  # pragma: no cover - never started
        pass


def make_leaky(config: LeakyConfig, host: Any) -> Any:
    logging.getLogger("leaky").warning("connecting with token %s", config.token.reveal())
    if config.fail:
        raise ConfigError(f"channels.leaky.token: {config.token.reveal()} was refused")
    raise RuntimeError(f"crashed while using {config.token.reveal()}")


class LeakyPlugin:
    @hookimpl
    def register_channels(self, register: Any) -> None:
        register("leaky", make_leaky, config=LeakyConfig)


def run_cli(tmp_path: Path, toml: str, *args: str) -> Any:
    path = tmp_path / "nanobot.toml"
    path.write_text(toml)
    app = App(
        plugins=Plugins.load(env={}, entry_points=False, extra=(LeakyPlugin(),)),
        env={"LEAKY_TOKEN": SECRET, "HOME": str(tmp_path)},
    )
    runner = CliRunner()
    return runner.invoke(cli, ["--log-level", "INFO", *args, "-c", str(path)], obj=app)


@pytest.mark.parametrize("fail", ["true", "false"])
def test_check_output_never_shows_a_secret(tmp_path: Path, fail: str) -> None:
    toml = f'[channels.leaky]\ntoken = {{ env = "LEAKY_TOKEN" }}\nfail = {fail}\n'
    result = run_cli(tmp_path, toml, "check")
    assert result.exit_code == 1
    assert "leaky" in result.output.split("error: ", 1)[1]
    assert "***" in result.output
    assert SECRET not in result.output


def test_inline_secret_in_an_error_is_not_echoed(tmp_path: Path) -> None:
    toml = f'[channels.leaky]\ntoken = "{SECRET}"\nfail = "yes"\n'
    result = run_cli(tmp_path, toml, "check")
    assert result.exit_code == 1
    assert "channels.leaky.fail: expected true or false, got a string" in result.output
    assert SECRET not in result.output


def test_formatter_redacts_messages_and_tracebacks() -> None:
    formatter = RedactingFormatter("%(message)s", [SECRET])
    try:
        raise ValueError(f"bad {SECRET}")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "using %s", (SECRET,), None)
        import sys

        record.exc_info = sys.exc_info()
    text = formatter.format(record)
    assert "using ***" in text and "ValueError: bad ***" in text
    assert SECRET not in text


def test_secrets_are_found_inside_nested_config() -> None:
    @attrs.frozen
    class Inner:
        key: Secret

    @attrs.frozen
    class Outer:
        inner: Inner
        others: list[Secret]
        plain: str = "x"

    outer = Outer(Inner(Secret(value="a")), [Secret(value="b")])
    assert sorted(secrets_in(outer)) == ["a", "b"]
    assert "a" not in repr(outer.inner.key) and str(outer.others[0]) == "<secret from inline>"


def test_secret_repr_never_shows_the_value() -> None:
    secret = Secret(value=SECRET, source="env X")
    assert SECRET not in f"{secret!r} {secret!s} {attrs.asdict(Inner2(secret))!r}"


@attrs.frozen
class Inner2:
    key: Secret


# --- the Secret value ------------------------------------------------------------------


def test_secrets_are_equal_by_value_whatever_their_source() -> None:
    assert Secret(value="a", source="env A") == Secret(value="a", source="file /a")
    assert Secret(value="a") != Secret(value="b")
    assert Secret(value="a") != "a"  # never equal to the plain text it hides
    assert "a" != Secret(value="a")  # noqa: SIM300 - the reflected comparison


def test_equal_secrets_hash_alike_so_sets_and_dicts_dedupe_them() -> None:
    first, second = Secret(value="a", source="env A"), Secret(value="a", source="config")
    assert hash(first) == hash(second)
    assert len({first, second, Secret(value="b")}) == 2
    assert {first: 1}[second] == 1


def test_a_secret_has_no_instance_dict_for_generic_serializers_to_read() -> None:
    # json.dumps(obj, default=vars) and friends must not find the value
    secret = Secret(value=SECRET)
    with pytest.raises(TypeError):
        vars(secret)
    with pytest.raises(AttributeError):
        secret.extra = "x"  # type: ignore[attr-defined]


def test_repr_names_only_the_source() -> None:
    assert repr(Secret(value=SECRET, source="env X")) == "Secret(source='env X')"
    assert str(Secret(value=SECRET, source="env X")) == "<secret from env X>"


def test_from_env_reads_a_set_variable() -> None:
    secret = Secret.from_env("TOKEN", {"TOKEN": SECRET, "OTHER": "x"})
    assert secret is not None
    assert secret.reveal() == SECRET
    assert str(secret) == "<secret from env TOKEN>"


@pytest.mark.parametrize("env", [{}, {"TOKEN": ""}, {"OTHER": SECRET}])
def test_from_env_is_none_when_the_variable_is_unset_or_empty(env: dict[str, str]) -> None:
    assert Secret.from_env("TOKEN", env) is None


# --- secrets as the config gives them --------------------------------------------------


def test_an_inline_string_is_the_secret() -> None:
    secret = structure_secret(SECRET, {})
    assert secret.reveal() == SECRET
    assert str(secret) == "<secret from config>"


def test_an_empty_inline_string_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^the secret is empty$"):
        structure_secret("", {"": "x"})


def test_an_env_secret_reads_the_variable() -> None:
    secret = structure_secret({"env": "TOKEN"}, {"TOKEN": SECRET})
    assert secret.reveal() == SECRET
    assert str(secret) == "<secret from env TOKEN>"


@pytest.mark.parametrize("env", [{}, {"TOKEN": ""}])
def test_an_unset_or_empty_variable_is_refused_by_name(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"^environment variable TOKEN is not set$"):
        structure_secret({"env": "TOKEN"}, env)


@pytest.mark.parametrize(
    ("content", "value"),
    [
        (f"{SECRET}\n", SECRET),
        (f"{SECRET}\r\n", SECRET),
        (f"{SECRET}\n\n", SECRET),
        (SECRET, SECRET),
        # only line endings go: spaces and the token's own last letters stay
        (" sk-AbCX \n", " sk-AbCX "),
        ("sk-AbCXX\n", "sk-AbCXX"),
        ("héllo\n", "héllo"),  # read as UTF-8 whatever the locale
    ],
)
def test_a_file_secret_is_the_file_without_its_trailing_newline(
    tmp_path: Path, content: str, value: str
) -> None:
    path = tmp_path / "token"
    path.write_bytes(content.encode("utf-8"))
    secret = structure_secret({"file": str(path)}, {})
    assert secret.reveal() == value
    assert str(secret) == f"<secret from file {path}>"


def test_a_file_secret_expands_the_home_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "token").write_text(f"{SECRET}\n")
    secret = structure_secret({"file": "~/token"}, {})
    assert secret.reveal() == SECRET
    assert str(secret) == f"<secret from file {tmp_path / 'token'}>"


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p / "missing", "cannot read secret file {path}: No such file or directory"),
        (lambda p: p, "secret file {path} is not a regular file"),
    ],
)
def test_an_unreadable_secret_file_is_one_line_naming_the_file(
    tmp_path: Path, make: Any, reason: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(ValueError) as refused:
        structure_secret({"file": str(path)}, {})
    assert str(refused.value) == reason.format(path=path)
    error = refused.value  # no chained traceback behind the line
    assert error.__cause__ is None and (error.__suppress_context__ or error.__context__ is None)


@pytest.mark.parametrize("content", ["", "\n", "\r\n\n"])
def test_an_empty_secret_file_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "token"
    path.write_text(content)
    with pytest.raises(ValueError, match=f"^secret file {re.escape(str(path))} is empty$"):
        structure_secret({"file": str(path)}, {})


def test_a_secret_file_that_is_not_text_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_bytes(b"\xff\xfe-not-utf8")
    with pytest.raises(ValueError) as refused:
        structure_secret({"file": str(path)}, {})
    assert str(refused.value) == f"secret file {path} is not UTF-8 text"  # no byte of it shown


@pytest.mark.parametrize(
    "raw",
    [
        {"env": "TOKEN", "file": "/token"},  # mixed keys: which one would it be?
        {"env": "TOKEN", "value": "x"},
        {"file": "/token", "mode": "r"},
        {"env": 3},
        {"file": ["/token"]},
        {"value": SECRET},
        {},
        5,
        None,
        [SECRET],
    ],
)
def test_anything_else_is_refused_without_echoing_it(raw: Any) -> None:
    with pytest.raises(ValueError) as refused:
        structure_secret(raw, {"TOKEN": SECRET})
    assert str(refused.value) == 'a secret is a string, { env = "NAME" } or { file = "PATH" }'


def test_a_file_mapping_is_not_read_as_an_env_mapping(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("from-file\n")
    secret = structure_secret({"file": str(path)}, {str(path): "from-env", "file": "x"})
    assert secret.reveal() == "from-file"
