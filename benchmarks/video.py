"""Video end to end (decode, upscale, encode) against the model alone, and each stage's CPU cost."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from benchmarks.common import lr_frame, timed
from espcn_lightning.core.colour import (
    enlarge_bicubic,
    restore_colour,
    rgb8_to_ycbcr,
    ycbcr_to_rgb8,
)
from espcn_lightning.core.images import read_image
from espcn_lightning.core.network import ESPCN
from espcn_lightning.core.tiling import tile_margin, tiled_upscaler
from espcn_lightning.datasets.catalogue import dataset_files
from espcn_lightning.inference.engines import (
    build,
    keep_freed_memory,
)
from espcn_lightning.inference.video import stream_video


def panning_frames(data_dir: Path, scale: int, count: int) -> list[np.ndarray]:
    """BGR LR frames (1080p once enlarged) panning across a real photograph, BSD200's first image,
    so that the codecs see natural content rather than noise."""
    height, width = lr_frame(scale)
    photo = read_image(dataset_files(data_dir, "BSD200")[0])
    if photo.ndim == 2:
        photo = np.stack([photo] * 3, axis=-1)
    base = cv2.resize(cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), (width, height))
    return [np.roll(base, 4 * i, axis=1) for i in range(count)]


def write_clip(path: Path, codec: str, frames: list[np.ndarray]) -> None:
    """Write BGR frames as a 30 fps video with the given fourcc: the benchmarks' input clips."""
    fourcc = cv2.VideoWriter_fourcc(*codec)  # type: ignore[attr-defined]
    writer = cv2.VideoWriter(str(path), fourcc, 30, (frames[0].shape[1], frames[0].shape[0]))
    for frame in frames:
        writer.write(frame)
    writer.release()


def bench_video(net: ESPCN, data_dir: Path, frames: int, engine: str, suffix: str) -> dict:
    """End-to-end fps of the upscale command's video path (decode, colour, ESPCN, encode into a
    ``suffix`` file: .mp4 is mp4v, .avi MJPG), against the same engine's model-only fps on the
    same LR frame (1080p out) measured just before it, on ``panning_frames``."""
    keep_freed_memory()
    upscale = build(engine, net)
    model = timed(partial(upscale, torch.rand(1, 1, *lr_frame(net.scale))), repeats=10)
    with tempfile.TemporaryDirectory() as scratch:
        source, target = Path(scratch) / "in.avi", Path(scratch) / f"out{suffix}"
        write_clip(source, "MJPG", panning_frames(data_dir, net.scale, frames))
        start = time.perf_counter()
        enlarge = tiled_upscaler(upscale, net.scale, tile_margin(net))
        done = stream_video(source, target, enlarge, net.scale, False, progress=False)
        seconds = time.perf_counter() - start
    return {
        "engine": engine,
        "output": suffix,
        "frames": done,
        "seconds": seconds,
        "fps": done / seconds,
        "model_fps": 1 / model,
        "of_model": model * done / seconds,
    }


def video_stages(net: ESPCN, data_dir: Path, engine: str, frames: int = 20) -> dict[str, float]:
    """CPU milliseconds a frame of each stage of the video path, each on one thread (as the video
    path runs them: torch and OpenCV on one thread a frame, ``time.thread_time``), the colour back
    end in one whole-frame pass beside the band-by-band one it uses: where a frame's time goes
    when decode, network, colour and encode share the cores."""
    bgr = panning_frames(data_dir, net.scale, frames + 1)
    upscale = build(engine, net)
    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    cost: dict[str, float] = {}

    def stage(name: str, run: Callable[[int], Any]) -> list[Any]:
        run(0)
        start = time.thread_time()
        outputs = [run(i) for i in range(frames)]
        cost[name] = (time.thread_time() - start) / frames * 1000
        return outputs

    try:
        with tempfile.TemporaryDirectory() as scratch:
            source = Path(scratch) / "in.avi"
            write_clip(source, "MJPG", bgr)
            reader = cv2.VideoCapture(str(source))
            stage("decode (MJPG, LR)", lambda i: reader.read())
            reader.release()
            ycbcr = stage(
                "to YCbCr", lambda i: rgb8_to_ycbcr(cv2.cvtColor(bgr[i], cv2.COLOR_BGR2RGB))
            )
            y = stage(
                f"network ({engine})",
                lambda i: upscale(torch.from_numpy(ycbcr[i][..., 0] / 255.0)[None, None])[0, 0],
            )
            stage(
                "colour back end, whole frame",
                lambda i: ycbcr_to_rgb8(
                    y[i].numpy(), *enlarge_bicubic(ycbcr[i][..., 1:], net.scale)
                ),
            )
            rgb = stage(
                "colour back end, band by band",
                lambda i: restore_colour(y[i].numpy(), ycbcr[i][..., 1:], net.scale),
            )
            for codec in ("mp4v", "MJPG"):
                suffix = ".mp4" if codec == "mp4v" else ".avi"
                fourcc = cv2.VideoWriter_fourcc(*codec)  # type: ignore[attr-defined]
                size = (rgb[0].shape[1], rgb[0].shape[0])
                writer = cv2.VideoWriter(str(Path(scratch) / f"out{suffix}"), fourcc, 30, size)

                def encode(i: int, writer: cv2.VideoWriter = writer) -> None:
                    writer.write(cv2.cvtColor(rgb[i], cv2.COLOR_RGB2BGR))

                stage(f"encode ({codec}, 1080p)", encode)
                writer.release()
    finally:
        torch.set_num_threads(torch_threads)
        cv2.setNumThreads(cv2_threads)
    return cost
