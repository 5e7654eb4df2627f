"""Videos (and animated images asked for as video) streamed frame by frame through an image
upscaler: decoding and encoding in threads beside the model, a few frames in flight, the output
written whole or not at all and checked to hold every frame."""

from __future__ import annotations

import collections
import contextlib
import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from espcn_lightning.core.errors import UpscaleError
from espcn_lightning.core.files import atomic_output, prepare_output
from espcn_lightning.core.hardware import cpu_cores
from espcn_lightning.core.images import frame_count
from espcn_lightning.core.tiling import ImageUpscaler

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v")


def stream_video(
    source: Path,
    target: Path,
    enlarge: ImageUpscaler,
    scale: int,
    overwrite: bool,
    progress: bool = True,
) -> int:
    """Stream a video's (or an animation's) frames through ``enlarge`` into an mp4v/MJPG file;
    returns the frames written, after checking the file holds them all."""
    prepare_output(source, target, overwrite, VIDEO_SUFFIXES, "a video")
    reader = cv2.VideoCapture(str(source))
    if not reader.isOpened():
        raise UpscaleError(
            f"{source}: OpenCV cannot read this video (empty, damaged, or a codec it lacks); "
            "re-encode it, e.g. ffmpeg -i IN -c:v mjpeg OUT.avi"
        )
    try:
        with atomic_output(target) as scratch:
            frames = _stream(reader, scratch, enlarge, scale, progress)
            if frames == 0:
                raise UpscaleError(f"{source}: no frame could be decoded; nothing was written")
            written = cv2.VideoCapture(str(scratch))
            stored = int(written.get(cv2.CAP_PROP_FRAME_COUNT))
            written.release()
            if stored != frames:
                raise UpscaleError(
                    f"{target}: the encoder stored {stored} of {frames} frames; nothing was "
                    "written (try an .avi output)"
                )
    finally:
        reader.release()
    return frames


def _stream(
    reader: cv2.VideoCapture, target: Path, enlarge: ImageUpscaler, scale: int, progress: bool
) -> int:
    """Decode, upscale and encode overlapped: a decoder thread, ``video_workers()`` frames in
    flight at once (each on its own core, one torch thread each), and an encoder thread, joined
    by bounded queues so that only a few frames are ever in memory; returns the frames encoded."""
    fps = reader.get(cv2.CAP_PROP_FPS) or 25.0
    width = int(reader.get(cv2.CAP_PROP_FRAME_WIDTH)) * scale
    height = int(reader.get(cv2.CAP_PROP_FRAME_HEIGHT)) * scale
    total = int(reader.get(cv2.CAP_PROP_FRAME_COUNT))
    codec = "MJPG" if target.suffix.lower() == ".avi" else "mp4v"
    fourcc = cv2.VideoWriter_fourcc(*codec)  # type: ignore[attr-defined]
    writer = cv2.VideoWriter(str(target), fourcc, fps, (width, height))
    if not writer.isOpened():
        raise UpscaleError(f"{target}: OpenCV cannot write this video; use an .mp4 or .avi output")
    workers = video_workers()
    decoded: queue.Queue = queue.Queue(maxsize=2 * workers)
    encoded: queue.Queue = queue.Queue(maxsize=2 * workers)
    failures: list[BaseException] = []

    def decode() -> None:
        while True:
            ok, frame = reader.read()
            decoded.put(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if ok else None)
            if not ok:
                return

    def encode() -> None:
        while (frame := encoded.get()) is not None:
            if not failures:
                try:
                    writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
                except cv2.error as error:
                    failures.append(error)

    decoder = threading.Thread(target=decode, daemon=True)
    encoder = threading.Thread(target=encode, daemon=True)
    frames = 0
    with few_threads(), ThreadPoolExecutor(workers, thread_name_prefix="upscale") as pool:
        decoder.start()
        encoder.start()
        in_flight: collections.deque[Future] = collections.deque()
        try:
            known = total if total > 0 else None
            with tqdm(total=known, desc="upscale", unit="frame", disable=not progress) as bar:
                while (rgb := decoded.get()) is not None:
                    in_flight.append(pool.submit(enlarge, rgb))
                    if len(in_flight) == workers:
                        encoded.put(np.ascontiguousarray(in_flight.popleft().result()))
                        frames += 1
                        bar.update()
                while in_flight:
                    encoded.put(np.ascontiguousarray(in_flight.popleft().result()))
                    frames += 1
                    bar.update()
        finally:
            for pending in in_flight:
                pending.cancel()
            encoded.put(None)
            encoder.join()
            while decoder.is_alive():  # unblock a decoder waiting on a full queue after an error
                with contextlib.suppress(queue.Empty):
                    decoded.get(timeout=0.1)
            writer.release()
    if failures:
        raise UpscaleError(f"{target}: the video encoder failed ({failures[0]}); nothing written")
    return frames


def video_workers() -> int:
    """Frames upscaled at once: one per core (at most 4), so that each frame's network and colour
    work run on their own core, and no frame's threads wait on a core the codecs hold."""
    return max(1, min(4, cpu_cores()))


@contextlib.contextmanager
def few_threads() -> Iterator[None]:
    """While frames are upscaled side by side: torch threads a frame = cores / frames at once
    (1 on up to 4 cores) and no OpenCV pool, the parallelism being across frames."""
    torch_threads, cv2_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(max(1, cpu_cores() // video_workers()))
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        torch.set_num_threads(torch_threads)
        cv2.setNumThreads(cv2_threads)


def is_video(source: Path, target: Path) -> bool:
    """A video file, or an animated image that is asked for as a video."""
    if source.suffix.lower() in VIDEO_SUFFIXES:
        return True
    return target.suffix.lower() in VIDEO_SUFFIXES and frame_count(source) > 1
