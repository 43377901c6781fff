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


def test_a_large_file_is_read_no_further_than_one_byte_past_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"x" * (10 * MAX_FILE_BYTES))
    read: list[int] = []
    real_read = os.read

    def counting_read(fd: int, size: int) -> bytes:
        chunk = real_read(fd, size)
        read.append(len(chunk))
        return chunk

    monkeypatch.setattr(os, "read", counting_read)
    refusal(big)
    assert sum(read) == MAX_FILE_BYTES + 1  # enough to know it is too large, no more


def test_a_read_error_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "token"
    path.write_text(SECRET)

    def failing_read(fd: int, size: int) -> bytes:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "read", failing_read)
    assert refusal(path) == f"cannot read secret file {path}: Input/output error"


def test_reading_a_secret_file_leaves_no_descriptor_open(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(SECRET)
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        assert from_file(path) == SECRET
        refusal(tmp_path)  # a directory: opened, then refused
    assert len(os.listdir("/proc/self/fd")) == before


def test_the_limit_is_the_documented_16_kb(tmp_path: Path) -> None:
    edge = tmp_path / "edge"
    edge.write_text("k" * 16_384)
    assert from_file(edge) == "k" * 16_384
    edge.write_text("k" * 16_385)
    assert refusal(edge) == f"secret file {edge} is larger than 16 KB"
