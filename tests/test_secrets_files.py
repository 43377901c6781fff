"""``{ file = "PATH" }`` secrets: a small regular file, read without waiting, never shown."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from nanobot_core.secrets import MAX_FILE_BYTES, structure_secret

SECRET = "sk-file-secret-0123456789"


def from_file(path: Path | str) -> str:
    return structure_secret({"file": str(path)}, {}).reveal()


def refusal(path: Path | str) -> str:
    with pytest.raises(ValueError) as caught:
        from_file(path)
    message = str(caught.value)
    assert SECRET not in message and len(message.splitlines()) == 1
    return message


def test_a_small_file_is_read_and_its_newline_stripped(tmp_path: Path) -> None:
    (tmp_path / "key").write_text(SECRET + "\r\n")
    assert from_file(tmp_path / "key") == SECRET


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_is_not_read(tmp_path: Path) -> None:
    assert refusal("/dev/zero") == "secret file /dev/zero is not a regular file"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(refusal(fifo)), daemon=True)
    reader.start()
    reader.join(timeout=5)
    if reader.is_alive():  # unblock the thread so the test run can end, then fail
        with open(fifo, "wb"):
            pass
        pytest.fail("reading the secret waited on the FIFO")
    assert result == [f"secret file {fifo} is not a regular file"]


def test_a_directory_is_refused(tmp_path: Path) -> None:
    assert refusal(tmp_path) == f"secret file {tmp_path} is not a regular file"


def test_a_large_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_text(SECRET + "x" * MAX_FILE_BYTES)
    assert refusal(big) == f"secret file {big} is larger than 16 KB"
    edge = tmp_path / "edge"
    edge.write_text("y" * MAX_FILE_BYTES)
    assert from_file(edge) == "y" * MAX_FILE_BYTES


def test_a_binary_file_is_refused(tmp_path: Path) -> None:
    binary = tmp_path / "key.bin"
    binary.write_bytes(SECRET.encode() + b"\xff\xfe")
    assert refusal(binary) == f"secret file {binary} is not UTF-8 text"


def test_a_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    assert refusal(missing) == f"cannot read secret file {missing}: No such file or directory"
