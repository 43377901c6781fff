"""Workdirs: one folder per process, swept after a hard kill; names that fit the file system."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio

from nanobot_core import Attachment, AttachmentKind
from nanobot_core.workdir import (
    MAX_NAME_BYTES,
    ROOT_PREFIX,
    Workdir,
    fit_name,
    open_workdir,
    open_workdir_root,
    sweep,
)


@pytest.mark.parametrize(
    ("name", "expected_end"),
    [
        ("a" * 250 + ".mp4", ".mp4"),
        ("é" * 200 + ".ogg", ".ogg"),  # 2 bytes each: cut between characters
        ("日本語" * 40 + ".jpeg", ".jpeg"),  # 3 bytes each
        ("🎬" * 70 + ".mov", ".mov"),  # 4 bytes each
        ("x" * 300, "x"),
        ("name." + "e" * 40, "e"),  # an "extension" this long is part of the name
    ],
)
def test_long_names_are_cut_at_a_character_keeping_the_extension(
    name: str, expected_end: str
) -> None:
    fitted = fit_name(name)
    assert len(fitted.encode()) <= MAX_NAME_BYTES
    assert fitted.endswith(expected_end)
    assert name.startswith(fitted.removesuffix(expected_end)[:10])
    fitted.encode().decode("utf-8")  # whole characters only


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("clip.mp4", "clip.mp4"),
        ("../../etc/passwd", "passwd"),
        ("dir\\evil.png", "evil.png"),
        ("", "file"),
        ("..", "file"),
        ("nul\0.txt", "nul.txt"),
    ],
)
def test_short_names_stay_and_folders_are_dropped(name: str, expected: str) -> None:
    assert fit_name(name) == expected


async def test_an_attachment_with_a_250_byte_name_is_copied_into_the_workdir(
    tmp_path: Path,
) -> None:
    source = tmp_path / ("v" * 246 + ".mp4")  # 250 bytes: the file system's limit is 255
    source.write_bytes(b"video")
    attachment = Attachment.from_path(source, AttachmentKind.VIDEO)
    assert attachment.filename == source.name
    async with open_workdir(tmp_path) as workdir:
        copied = await attachment.fetch(await workdir.path())
        assert copied.read_bytes() == b"video"
        assert copied.suffix == ".mp4"
        assert copied.parent == await workdir.path()


def listing(base: Path) -> list[str]:
    return sorted(p.name for p in base.iterdir())


async def test_the_root_holds_turn_workdirs_and_is_removed_however_it_ends(tmp_path: Path) -> None:
    async with open_workdir_root(tmp_path) as root:
        assert root.parent == tmp_path
        assert root.name.startswith(f"{ROOT_PREFIX}{os.getpid()}-")
        workdir = Workdir(root)
        assert (await workdir.path()).parent == root
        (await workdir.path() / "frame.jpg").write_bytes(b"x")
    assert listing(tmp_path) == []
    with trio.move_on_after(1) as cancelled:
        async with open_workdir_root(tmp_path) as root:
            (root / "partial.ogg").write_bytes(b"x")
            await trio.sleep_forever()
    assert cancelled.cancelled_caught
    assert listing(tmp_path) == []


async def test_two_roots_in_one_process_do_not_sweep_each_other(tmp_path: Path) -> None:
    async with open_workdir_root(tmp_path) as first, open_workdir_root(tmp_path) as second:
        assert first != second and first.exists() and second.exists()
        assert sweep(tmp_path) == []


OWNER = """
import sys, trio
from pathlib import Path
from nanobot_core.workdir import Workdir, open_workdir_root

async def main():
    async with open_workdir_root(Path(sys.argv[1])) as root:
        path = await Workdir(root).path()
        (path / "frame-1.jpg").write_bytes(b"x" * 1000)
        print(root, flush=True)
        await trio.sleep_forever()

trio.run(main)
"""


def start_owner(base: Path) -> tuple[subprocess.Popen[str], Path]:
    process = subprocess.Popen(
        [sys.executable, "-c", OWNER, str(base)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    return process, Path(process.stdout.readline().strip())


def stop(process: subprocess.Popen[str]) -> None:
    process.kill()
    process.wait()
    if process.stdout:
        process.stdout.close()


async def test_the_next_start_sweeps_what_a_killed_process_left(tmp_path: Path) -> None:
    alive, alive_root = start_owner(tmp_path)
    killed, killed_root = start_owner(tmp_path)
    try:
        os.kill(killed.pid, signal.SIGKILL)  # no clean-up of its own
        killed.wait()
        assert killed_root.exists()
        (tmp_path / "nanobot-turn-unrelated").mkdir()  # not ours to judge
        async with open_workdir_root(tmp_path) as root:
            assert not killed_root.exists()
            assert alive_root.exists() and any(alive_root.iterdir())  # its owner still runs
            assert listing(tmp_path) == sorted(
                [alive_root.name, root.name, "nanobot-turn-unrelated"]
            )
    finally:
        stop(alive)
        if killed.stdout:
            killed.stdout.close()
    assert sweep(tmp_path) == [alive_root]
    assert listing(tmp_path) == ["nanobot-turn-unrelated"]


def test_a_root_abandoned_while_being_set_up_is_swept_once_old(tmp_path: Path) -> None:
    young = tmp_path / ".nanobot-new-young"
    old = tmp_path / ".nanobot-new-old"
    young.mkdir()
    old.mkdir()
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    assert sweep(tmp_path) == [old]
    assert young.exists()


def test_a_symlink_named_like_a_root_is_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.mkdir()
    (target / "keep").write_text("x")
    (tmp_path / f"{ROOT_PREFIX}1-abc").symlink_to(target)
    assert sweep(tmp_path) == []
    assert (target / "keep").exists()
