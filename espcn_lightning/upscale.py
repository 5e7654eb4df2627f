"""Upscale real images, folders and videos in colour: ``python -m espcn_lightning.upscale IN OUT``.

ESPCN runs on Y, Cb and Cr are upscaled bicubic, the result goes back to RGB. Large images are
upscaled in overlapping tiles (identical result, memory bounded by the tile). Videos, and animated
images given a video output, are streamed frame by frame through OpenCV, decoding and encoding in
threads beside the model (video only: audio is not carried over). Every output is checked before
any work, written to a temporary file and renamed into place once whole: nothing is reported that
was not written, nothing is overwritten unless --overwrite is given, and the input never is.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import queue
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from espcn_lightning.core.errors import UpscaleError, one_line_errors
from espcn_lightning.core.files import atomic_output
from espcn_lightning.core.hardware import cpu_cores
from espcn_lightning.core.images import (
    IMAGE_SUFFIXES,
    frame_count,
    is_image,
    is_image_file,
    read_image,
    write_image,
)
from espcn_lightning.core.tiling import (
    DEFAULT_TILE,
    MIN_TILE,
    ImageUpscaler,
    tile_margin,
    tiled_upscaler,
)
from espcn_lightning.inference.engines import ENGINES, build, keep_freed_memory, pick_device
from espcn_lightning.inference.pretrained import DEFAULT_MODELS, default_model, load_model

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v")


def prepare_output(source: Path, target: Path, overwrite: bool, suffixes: tuple[str, ...]) -> None:
    """Refuse, before any work, an output that cannot be written or would replace the input or an
    existing file without --overwrite; then create its folder."""
    if target.is_dir():
        raise UpscaleError(
            f"{target} is a folder; give a file path, such as {target / source.name}"
        )
    if target.suffix.lower() not in suffixes:
        kind = "a video" if suffixes == VIDEO_SUFFIXES else "an image"
        raise UpscaleError(
            f"{target}: {source.name} is {kind}, written as {', '.join(suffixes)}; "
            "choose an output ending in one of those"
        )
    if target.exists() and source.exists() and os.path.samefile(source, target):
        raise UpscaleError(
            f"{target}: output is the input (the same file, perhaps through a link); "
            "choose another output path"
        )
    if target.exists() and not overwrite:
        raise UpscaleError(f"{target} already exists; pass --overwrite to replace it")
    make_folder(target.parent)


def make_folder(folder: Path) -> None:
    """Create an output folder (and its parents), or say why it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise UpscaleError(
            f"cannot create folder {folder}: a file is in the way ({error})"
        ) from error
    except OSError as error:
        raise UpscaleError(f"cannot create folder {folder} ({error.strerror})") from error


def refuse_animation(source: Path) -> None:
    """An animated image would lose every frame but the first as an image: say so instead."""
    frames = frame_count(source)
    if frames > 1:
        raise UpscaleError(
            f"{source} is an animation of {frames} frames; an image output would keep only the "
            f"first: give a video output (such as {source.stem}_x3.mp4) to upscale every frame"
        )


def upscale_image(source: Path, target: Path, enlarge: ImageUpscaler, overwrite: bool) -> None:
    """One still image file to one image file (format from the suffix)."""
    refuse_animation(source)
    prepare_output(source, target, overwrite, IMAGE_SUFFIXES)
    write_image(target, enlarge(read_image(source)))


def upscale_folder(source: Path, target: Path, enlarge: ImageUpscaler, overwrite: bool) -> int:
    """Every image in a folder (not recursive) into another folder, same names; every output is
    checked before the first is written."""
    if target.exists() and not target.is_dir():
        raise UpscaleError(f"{target} is a file; give a folder for a folder of images")
    if target.exists() and os.path.samefile(source, target):
        raise UpscaleError(f"{target}: output folder is the input folder; choose another")
    files = sorted(p for p in source.iterdir() if p.is_file() and is_image_file(p))
    if not files:
        raise UpscaleError(f"{source}: no image files in this folder")
    for path in files:
        refuse_animation(path)
        prepare_output(path, target / path.name, overwrite, IMAGE_SUFFIXES)
    for path in tqdm(files, desc="upscale", unit="img"):
        write_image(target / path.name, enlarge(read_image(path)))
    return len(files)


def upscale_video(
    source: Path,
    target: Path,
    enlarge: ImageUpscaler,
    scale: int,
    overwrite: bool,
    progress: bool = True,
) -> int:
    """Stream a video's (or an animation's) frames through ``enlarge`` into an mp4v/MJPG file;
    returns the frames written, after checking the file holds them all."""
    prepare_output(source, target, overwrite, VIDEO_SUFFIXES)
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


def tile_size(text: str) -> int:
    """``--tile``: 0 or at least MIN_TILE."""
    value = int(text)
    if value != 0 and value < MIN_TILE:
        raise argparse.ArgumentTypeError(f"use 0 (no tiling) or at least {MIN_TILE}")
    return value


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m espcn_lightning.upscale", description=__doc__)
    parser.add_argument("input", type=Path, help="an image, a folder of images, or a video")
    parser.add_argument("output", type=Path, help="an image, a folder, or a video path")
    parser.add_argument(
        "--model", help="a shipped name or a .pt/.ckpt (default: the shipped model for --scale)"
    )
    parser.add_argument(
        "--scale", type=int, help="upscaling factor (default 3; with --model: checked against it)"
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument(
        "--engine",
        default="auto",
        choices=[e for e in ENGINES if e != "int8"],
        help="auto: bf16 on CPUs with native bf16, else ONNX Runtime fp32; fp16 on CUDA",
    )
    parser.add_argument(
        "--tile",
        type=tile_size,
        default=DEFAULT_TILE,
        help=f"upscale images of more than TILE^2 pixels in overlapping tiles of at most TILE a "
        f"side (identical result, bounded memory; 0: never; default {DEFAULT_TILE})",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    args = parser.parse_args(argv)
    source, target = args.input, args.output
    keep_freed_memory()
    if not source.exists():
        raise UpscaleError(f"{source}: no such file or folder; check the path")
    if args.scale is not None and args.scale < 2:
        shipped = ", ".join(str(s) for s in sorted(DEFAULT_MODELS))
        raise UpscaleError(f"--scale {args.scale}: use a factor of at least 2 (shipped: {shipped})")
    if source.is_file() and not is_video(source, target) and not is_image(source):
        raise UpscaleError(
            f"{source}: neither an image nor a video this command reads (images: what Pillow "
            f"opens, such as {', '.join(IMAGE_SUFFIXES)}; videos: {', '.join(VIDEO_SUFFIXES)})"
        )
    model = args.model or default_model(args.scale or 3)
    net = load_model(model, scale=args.scale).to(pick_device(args.device))
    scale = net.scale
    enlarge = tiled_upscaler(build(args.engine, net), scale, tile_margin(net), args.tile)
    if source.is_dir():
        count = upscale_folder(source, target, enlarge, args.overwrite)
        print(f"upscaled {count} images x{scale} into {target}")
    elif is_video(source, target):
        frames = upscale_video(source, target, enlarge, scale, args.overwrite)
        print(f"upscaled {frames} frames x{scale} into {target} (audio not carried)")
    else:
        upscale_image(source, target, enlarge, args.overwrite)
        print(f"upscaled {source} x{scale} into {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
