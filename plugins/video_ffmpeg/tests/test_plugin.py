"""Registration, config and finding ffmpeg (what ``nanobot check`` reports)."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from nanobot_video_ffmpeg import VideoConfig, VideoProcessor, plugin
from nanobot_video_ffmpeg.ffmpeg import find_ffmpeg, install_hint

from nanobot_core import ConfigError, Unavailable
from nanobot_core.config import make_converter, structure


def test_entry_point_names_the_plugin_module() -> None:
    [point] = [p for p in entry_points(group="nanobot") if p.name == "video_ffmpeg"]
    assert point.value == "nanobot_video_ffmpeg.plugin"
    assert point.load() is plugin


def test_registers_media_processor_video() -> None:
    calls = []
    plugin.register_media_processors(register=lambda *a, **k: calls.append((a, k)))
    assert calls == [(("video", plugin.make_processor), {"config": VideoConfig})]


def test_config_table_structures_with_the_core_converter(tmp_path: Path) -> None:
    raw = {"max_frames": 4, "max_duration": 120, "max_bytes": 1000, "timeout": 30,
           "frame_width": 512, "ffmpeg": "~/bin/ffmpeg", "max_pixels": 4096 * 2160}  # fmt: skip
    config, errors = structure(make_converter({}), raw, VideoConfig, "media.video")
    assert errors == []
    assert config == VideoConfig(
        4, 120.0, 1000, 30.0, 512, Path("~/bin/ffmpeg").expanduser(), 4096 * 2160
    )
    assert structure(make_converter({}), {}, VideoConfig, "media.video")[0] == VideoConfig()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"max_frame": 4}, "media.video: unknown key 'max_frame'"),
        ({"max_frames": "4"}, "media.video.max_frames: expected an integer"),
        ({"max_frames": 0}, "media.video.max_frames: must be between 1 and 64, got 0"),
        ({"timeout": -1}, "media.video.timeout: must be greater than 0, got -1.0"),
        ({"max_pixels": 0}, "media.video.max_pixels: must be greater than 0, got 0"),
    ],
)
def test_config_errors_name_their_key(raw: dict[str, object], message: str) -> None:
    config, errors = structure(make_converter({}), raw, VideoConfig, "media.video")
    assert config is None
    assert any(message in line for line in errors), errors


def test_factory_uses_the_configured_binary(tmp_path: Path) -> None:
    binary = tmp_path / "my-ffmpeg"
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    processor = plugin.make_processor(VideoConfig(ffmpeg=binary), host=None)
    assert isinstance(processor, VideoProcessor) and processor.binary == binary


def test_configured_binary_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^media\.video\.ffmpeg: .* is not an executable file$"):
        plugin.make_processor(VideoConfig(ffmpeg=tmp_path / "missing"), host=None)


def test_path_before_bundled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    on_path = tmp_path / "ffmpeg"
    on_path.write_text("#!/bin/sh\n")
    on_path.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_ffmpeg(None) == on_path


def test_bundled_binary_when_none_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import imageio_ffmpeg

    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_ffmpeg(None) == Path(imageio_ffmpeg.get_ffmpeg_exe())


def test_none_found_is_unavailable_and_says_how_to_get_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # the extra is not installed
    with pytest.raises(Unavailable) as caught:
        plugin.make_processor(VideoConfig(), host=None)
    # installed from this clone: the hint names the folder, which pip can install from
    assert str(caught.value) == (
        "ffmpeg not found on PATH; install ffmpeg 5.1 or newer (apt install ffmpeg, "
        f"brew install ffmpeg) or run: {install_hint()}"
    )
    assert caught.value.kinds == {"video", "video_note", "animation"}


def test_install_hint_names_the_clone_or_the_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nanobot_video_ffmpeg import ffmpeg

    folder = Path(ffmpeg.__file__).parents[1]  # plugins/video_ffmpeg of this clone
    monkeypatch.chdir(folder.parents[1])
    assert install_hint() == "pip install './plugins/video_ffmpeg[bundled]'"
    monkeypatch.chdir(tmp_path)
    assert install_hint() == f"pip install '{folder}[bundled]'"

    class FromIndex:
        def read_text(self, name: str) -> str | None:
            return None  # a wheel from an index writes no direct_url.json

    monkeypatch.setattr(ffmpeg, "distribution", lambda name: FromIndex())
    assert install_hint() == "pip install 'nanobot-video-ffmpeg[bundled]'"


def fake_ffmpeg(tmp_path: Path, version: str) -> Path:
    binary = tmp_path / "ffmpeg"
    binary.write_text(f"#!/bin/sh\necho 'ffmpeg version {version} Copyright (c) 2000-2021'\n")
    binary.chmod(0o755)
    return binary


@pytest.mark.parametrize(
    ("version", "supported"),
    [("4.4.2-0ubuntu0.22.04.1", False), ("5.0.1", False), ("5.1.9-0+deb12u1", True),
     ("n9.0.2-17-g2a571b6068-20260930", True), ("N-112011-g1234abcd", True)],
)  # fmt: skip
def test_versions_before_5_1_are_refused(version: str, supported: bool, tmp_path: Path) -> None:
    binary = fake_ffmpeg(tmp_path, version)
    if supported:
        assert plugin.make_processor(VideoConfig(ffmpeg=binary), host=None).binary == binary
        return
    found = version.split("-")[0].rsplit(".", 1)[0] if version.count(".") > 1 else version
    with pytest.raises(ConfigError) as caught:
        plugin.make_processor(VideoConfig(ffmpeg=binary), host=None)
    assert str(caught.value).startswith(
        f"media.video.ffmpeg: {binary} is ffmpeg {found}; the video processor needs 5.1 or newer"
    )
    assert "[bundled]" in str(caught.value) and "\n" not in str(caught.value)


def test_an_old_ffmpeg_on_path_gives_way_to_the_bundled_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import imageio_ffmpeg

    fake_ffmpeg(tmp_path, "4.4.2")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_ffmpeg(None) == Path(imageio_ffmpeg.get_ffmpeg_exe())
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(Unavailable, match=r"^.*/ffmpeg is ffmpeg 4\.4; the video processor"):
        find_ffmpeg(None)
