"""The video templates on a clip the test encodes: 4 s at 10 fps, a new colour each second."""

from __future__ import annotations

import io
from pathlib import Path

import av
import lance
import numpy as np
import pytest

from worker_sdk.templates import select
from worker_sdk.templates.video import probe, sample_frames
from worker_sdk.testing import JobEnvironment

SECONDS, RATE = 4, 10


@pytest.fixture(autouse=True)
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPELOGIQ_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("PIPELOGIQ_DATA_ROOTS", str(tmp_path))  # the clips are written there


def red_of_second(second: int) -> int:
    return 40 + 50 * second


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for n in range(SECONDS * RATE):
            pixels = np.zeros((120, 160, 3), dtype=np.uint8)
            pixels[:, :, 0] = red_of_second(n // RATE)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def mean_red(image: bytes) -> float:
    with av.open(io.BytesIO(image)) as container:
        frame = next(container.decode(video=0))
    return float(frame.to_ndarray(format="rgb24")[:, :, 0].mean())


def test_probe_describes_the_clip(clip: Path) -> None:
    outcome = JobEnvironment().run(probe, {"source": str(clip)})
    assert outcome.status == "completed", outcome.error
    described = outcome.output
    assert described["durationSeconds"] == pytest.approx(SECONDS, abs=0.01)
    assert described["frameRate"] == RATE
    assert (described["width"], described["height"]) == (160, 120)
    assert described["codec"] == "mpeg4"
    assert described["frames"] == SECONDS * RATE
    assert "audio" not in described


def test_sample_frames_keeps_one_image_per_interval_with_its_time(clip: Path) -> None:
    spec = {"source": str(clip), "everySeconds": 1, "maxWidth": 80}
    outcome = JobEnvironment(stage_name="frames").run(sample_frames, spec)
    assert outcome.status == "completed", outcome.error
    output = outcome.output
    assert output["frames"] == {str(clip): SECONDS}
    table = lance.dataset(output["dataset"]["uri"]).to_table().sort_by("timestamp_seconds")
    assert table.column("timestamp_seconds").to_pylist() == [0.0, 1.0, 2.0, 3.0]
    assert set(table.column("width").to_pylist()) == {80}
    assert set(table.column("height").to_pylist()) == {60}
    # Each image is the frame of its second: its colour says which.
    reds = [mean_red(image) for image in table.column("image").to_pylist()]
    assert reds == pytest.approx([red_of_second(s) for s in range(SECONDS)], abs=6)
    assert output["lineage"]["reads"] == [{"uri": str(clip)}]


def test_sample_frames_as_png_every_half_second_capped(clip: Path) -> None:
    spec = {"source": [str(clip)], "everySeconds": 0.5, "format": "png", "maxFrames": 5}
    outcome = JobEnvironment().run(sample_frames, spec)
    assert outcome.status == "completed", outcome.error
    table = lance.dataset(outcome.output["dataset"]["uri"]).to_table().sort_by("timestamp_seconds")
    assert table.column("timestamp_seconds").to_pylist() == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert table.column("image")[0].as_py().startswith(b"\x89PNG")
    assert set(table.column("width").to_pylist()) == {160}


@pytest.mark.parametrize(
    ("content", "code"), [(None, "source_not_found"), (b"not a video at all", "invalid_data")]
)
def test_a_missing_or_broken_video_fails_for_good(
    tmp_path: Path, content: bytes | None, code: str
) -> None:
    path = tmp_path / "bad.mp4"
    if content is not None:
        path.write_bytes(content)
    for template in (probe, sample_frames):
        outcome = JobEnvironment().run(template, {"source": str(path)})
        assert outcome.error is not None
        assert (outcome.error.code, outcome.error.retryable) == (code, False)


def test_videos_outside_the_data_roots_are_refused(
    clip: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("outside") / "clip.mp4"
    outside.write_bytes(clip.read_bytes())
    for source in (str(outside), f"http://169.254.169.254/{clip.name}", f"concat:{clip}|{clip}"):
        for template in (probe, sample_frames):
            outcome = JobEnvironment().run(template, {"source": source})
            assert outcome.error is not None
            assert (outcome.error.code, outcome.error.retryable) == ("path_not_allowed", False)


def test_the_video_group() -> None:
    assert [t.name for t in select(["video"])] == ["video.probe", "video.sample_frames"]
