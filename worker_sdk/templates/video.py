"""The video templates: ``video.probe`` describes a video, ``video.sample_frames`` keeps a frame
every N seconds as images in a Lance dataset. Decoding is FFmpeg's, through PyAV.

``pip install 'pipelogiq[video]'``; sources are local paths, object store URIs are not read
here (FFmpeg opens http(s) URLs itself). Every source is under a data root (see
:mod:`worker_sdk.templates.dataset.roots`).
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

import av
import msgspec
import pyarrow as pa
import ray

from worker_sdk.context import JobContext
from worker_sdk.errors import TerminalError
from worker_sdk.templates import template
from worker_sdk.templates.dataset import runtime
from worker_sdk.templates.dataset.refs import output_uri, result
from worker_sdk.templates.dataset.roots import allowed

FRAMES_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string()),
        pa.field("timestamp_seconds", pa.float64()),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
        pa.field("format", pa.string()),
        pa.field("image", pa.binary()),
    ]
)

# What each image format is encoded with, and the pixel format that encoder takes.
_ENCODERS = {"jpeg": ("mjpeg", "yuvj420p"), "png": ("png", "rgb24")}


def _checked(source: str) -> str:
    """Where ``source`` is, if it is under a data root (an http(s) URL too: FFmpeg fetches
    it itself, so only URL prefixes listed in PIPELOGIQ_DATA_ROOTS are read)."""
    location = allowed(source)
    if "://" not in location and not os.path.isfile(location):
        raise TerminalError(f"no such file: {source}", code="source_not_found")
    return location


def _open(source: str, location: str) -> av.container.InputContainer:
    """``location`` (checked) opened; ``source`` is how errors name it."""
    try:
        # A local location is an absolute path: FFmpeg reads no "proto:" prefix into it.
        return av.open(location)
    except av.error.FileNotFoundError:
        raise TerminalError(f"no such file: {source}", code="source_not_found") from None
    except (av.error.InvalidDataError, av.error.FFmpegError) as error:
        raise TerminalError(
            f"{source} is not a video FFmpeg reads: {error}", code="invalid_data"
        ) from None


def _video_stream(container: av.container.InputContainer, source: str) -> Any:
    if not container.streams.video:
        raise TerminalError(f"{source} has no video stream", code="invalid_data")
    return container.streams.video[0]


class Probe(msgspec.Struct, forbid_unknown_fields=True):
    source: str


@template(
    "video.probe",
    group="video",
    version="1",
    summary="Describe a video: duration, frame rate, size, codec, and its audio if any.",
)
def probe(ctx: JobContext, spec: Probe) -> dict[str, Any]:
    with _open(spec.source, _checked(spec.source)) as container:
        video = _video_stream(container, spec.source)
        duration = container.duration / av.time_base if container.duration else None
        if duration is None and video.duration is not None and video.time_base is not None:
            duration = float(video.duration * video.time_base)
        rate = video.average_rate
        described: dict[str, Any] = {
            "source": spec.source,
            "format": container.format.name,
            "durationSeconds": duration,
            "frameRate": float(rate) if rate else None,
            "frames": video.frames or None,
            "width": video.codec_context.width,
            "height": video.codec_context.height,
            "codec": video.codec_context.name,
            "pixelFormat": video.codec_context.pix_fmt,
            "bitRate": container.bit_rate or None,
        }
        if container.streams.audio:
            audio = container.streams.audio[0].codec_context
            described["audio"] = {
                "codec": audio.name,
                "sampleRate": audio.sample_rate,
                "channels": audio.channels,
            }
    ctx.log.info("%s: %s", spec.source, described)
    return described


class SampleFrames(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    source: str | list[str]
    every_seconds: Annotated[float, msgspec.Meta(gt=0)] = 1.0
    format: Literal["jpeg", "png"] = "jpeg"
    # Frames wider than this are scaled down, keeping their shape.
    max_width: Annotated[int, msgspec.Meta(ge=16)] | None = None
    # At most this many frames per video.
    max_frames: Annotated[int, msgspec.Meta(ge=1)] | None = None
    output: str | None = None


def sample(source: str, location: str, spec: SampleFrames) -> pa.Table:
    """The frames of one video (``source``, checked as ``location``) at 0, N, 2N… seconds
    (the first frame at or after each)."""
    codec, pixels = _ENCODERS[spec.format]
    rows: dict[str, list[Any]] = {field.name: [] for field in FRAMES_SCHEMA}
    with _open(source, location) as container:
        video = _video_stream(container, source)
        video.thread_type = "AUTO"
        encoder: Any = None  # a video encoder; PyAV types it as any codec's context
        due = 0.0
        try:
            for frame in container.decode(video):
                if frame.time is None or frame.time + 1e-6 < due:
                    continue
                width, height = frame.width, frame.height
                if spec.max_width and width > spec.max_width:
                    width, height = spec.max_width, max(2, round(height * spec.max_width / width))
                    height -= height % 2
                image = frame.reformat(width=width, height=height, format=pixels)
                if encoder is None:
                    encoder = av.CodecContext.create(codec, "w")
                    encoder.width, encoder.height, encoder.pix_fmt = width, height, pixels
                    encoder.time_base = video.time_base
                data = b"".join(bytes(packet) for packet in encoder.encode(image))
                for name, value in zip(
                    FRAMES_SCHEMA.names,
                    [source, float(frame.time), width, height, spec.format, data],
                    strict=True,
                ):
                    rows[name].append(value)
                due += spec.every_seconds
                # Past due times with no frame of their own (a gap) are not filled twice.
                due = max(due, float(frame.time) + spec.every_seconds)
                if spec.max_frames and len(rows["source"]) >= spec.max_frames:
                    break
        except av.error.FFmpegError as error:
            raise TerminalError(f"{source}: {error}", code="invalid_data") from None
    return pa.table(rows, schema=FRAMES_SCHEMA)


@ray.remote
def _sample_video(
    source: str, location: str, spec: SampleFrames, uri: str
) -> tuple[list[Any], int]:
    frames = sample(source, location, spec)
    return runtime.write(frames, uri, FRAMES_SCHEMA), frames.num_rows


@template(
    "video.sample_frames",
    group="video",
    version="1",
    summary="Keep a frame every N seconds of each video, as images in a Lance dataset.",
)
def sample_frames(ctx: JobContext, spec: SampleFrames) -> dict[str, Any]:
    runtime.ensure_started()
    sources = [spec.source] if isinstance(spec.source, str) else spec.source
    if not sources:
        raise TerminalError("source names no video", code="invalid_input")
    # Checked here, where the worker's settings are, not in the tasks.
    locations = [_checked(source) for source in sources]
    for source, location in zip(sources, locations, strict=True):
        _open(source, location).close()  # an unreadable video fails before any task runs
    uri = output_uri(ctx, spec.output)
    written = runtime.gather(
        ctx,
        [_sample_video.remote(s, at, spec, uri) for s, at in zip(sources, locations, strict=True)],
    )
    dataset = runtime.commit(uri, FRAMES_SCHEMA, [f for fragments, _ in written for f in fragments])
    counts = {source: count for source, (_, count) in zip(sources, written, strict=True)}
    ctx.log.info("%d frames from %d videos into %s", sum(counts.values()), len(sources), uri)
    return result(ctx, dataset, sources, frames=counts)
