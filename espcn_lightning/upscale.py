"""Upscale real images, folders and videos in colour: ``python -m espcn_lightning.upscale IN OUT``.

ESPCN runs on Y, Cb and Cr are upscaled bicubic, the result goes back to RGB. Videos are streamed
frame by frame through OpenCV, decoding and encoding in threads beside the model (video only:
audio is not carried over). Nothing is overwritten
unless --overwrite is given, and the input never is.
"""

from __future__ import annotations

import argparse
import contextlib
import queue
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from espcn_lightning.colour import upscale_rgb
from espcn_lightning.engines import ENGINES, Upscaler, build, keep_freed_memory
from espcn_lightning.errors import UpscaleError, UserError
from espcn_lightning.images import is_image_file, read_image, write_image
from espcn_lightning.pretrained import load_model

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v")


def pick_device(name: str) -> torch.device:
    """auto: CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UpscaleError("--device cuda: no CUDA device is visible; use --device cpu or auto")
    return torch.device(name)


def check_output(source: Path, target: Path, overwrite: bool) -> None:
    """Refuse to write over the input, or over an existing output without --overwrite."""
    if target.exists() and source.exists() and target.resolve() == source.resolve():
        raise UpscaleError(f"{target}: output is the input; choose another output path")
    if target.exists() and not overwrite:
        raise UpscaleError(f"{target} already exists; pass --overwrite to replace it")


def upscale_image(
    source: Path, target: Path, upscale: Upscaler, scale: int, overwrite: bool
) -> None:
    """One image file to one image file (format from the suffix)."""
    check_output(source, target, overwrite)
    write_image(target, upscale_rgb(read_image(source), upscale, scale))


def upscale_folder(
    source: Path, target: Path, upscale: Upscaler, scale: int, overwrite: bool
) -> int:
    """Every image in a folder (not recursive) into another folder, same names."""
    if target.exists() and target.resolve() == source.resolve():
        raise UpscaleError(f"{target}: output folder is the input folder; choose another")
    files = sorted(p for p in source.iterdir() if p.is_file() and is_image_file(p))
    if not files:
        raise UpscaleError(f"{source}: no image files in this folder")
    target.mkdir(parents=True, exist_ok=True)
    for path in tqdm(files, desc="upscale", unit="img"):
        upscale_image(path, target / path.name, upscale, scale, overwrite)
    return len(files)


def upscale_video(
    source: Path,
    target: Path,
    upscale: Upscaler,
    scale: int,
    overwrite: bool,
    progress: bool = True,
) -> int:
    """Stream a video's frames through the upscaler into an mp4v/MJPG file; returns frames."""
    check_output(source, target, overwrite)
    reader = cv2.VideoCapture(str(source))
    if not reader.isOpened():
        raise UpscaleError(f"{source}: OpenCV cannot open this video; convert it to mp4 first")
    fps = reader.get(cv2.CAP_PROP_FPS) or 25.0
    width = int(reader.get(cv2.CAP_PROP_FRAME_WIDTH)) * scale
    height = int(reader.get(cv2.CAP_PROP_FRAME_HEIGHT)) * scale
    total = int(reader.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    codec = "MJPG" if target.suffix.lower() == ".avi" else "mp4v"
    fourcc = cv2.VideoWriter_fourcc(*codec)  # type: ignore[attr-defined]
    writer = cv2.VideoWriter(str(target), fourcc, fps, (width, height))
    decoded: queue.Queue = queue.Queue(maxsize=4)
    encoded: queue.Queue = queue.Queue(maxsize=4)

    def decode() -> None:
        while True:
            ok, frame = reader.read()
            decoded.put(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if ok else None)
            if not ok:
                return

    def encode() -> None:
        while (frame := encoded.get()) is not None:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))

    decoder = threading.Thread(target=decode, daemon=True)
    encoder = threading.Thread(target=encode, daemon=True)
    decoder.start()
    encoder.start()
    frames = 0
    try:
        with tqdm(total=total, desc="upscale", unit="frame", disable=not progress) as bar:
            while (rgb := decoded.get()) is not None:
                encoded.put(np.ascontiguousarray(upscale_rgb(rgb, upscale, scale)))
                frames += 1
                bar.update()
    finally:
        encoded.put(None)
        encoder.join()
        while decoder.is_alive():  # unblock a decoder waiting on a full queue after an error
            with contextlib.suppress(queue.Empty):
                decoded.get(timeout=0.1)
        reader.release()
        writer.release()
    return frames


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(prog="python -m espcn_lightning.upscale", description=__doc__)
    parser.add_argument("input", type=Path, help="an image, a folder of images, or a video")
    parser.add_argument("output", type=Path, help="an image, a folder, or a video path")
    parser.add_argument("--model", default="espcn_x3_relu_t91", help="shipped name or .pt/.ckpt")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument(
        "--engine",
        default="auto",
        choices=[e for e in ENGINES if e != "int8"],
        help="auto: bf16 on CPUs with native bf16, else ONNX Runtime fp32; fp16 on CUDA",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    args = parser.parse_args(argv)
    keep_freed_memory()
    try:
        net = load_model(args.model).to(pick_device(args.device))
        upscale, scale = build(args.engine, net), net.scale
        source = args.input
        if source.is_dir():
            count = upscale_folder(source, args.output, upscale, scale, args.overwrite)
            print(f"upscaled {count} images x{scale} into {args.output}")
        elif source.suffix.lower() in VIDEO_SUFFIXES:
            frames = upscale_video(source, args.output, upscale, scale, args.overwrite)
            print(f"upscaled {frames} frames x{scale} into {args.output} (audio not carried)")
        elif source.is_file():
            upscale_image(source, args.output, upscale, scale, args.overwrite)
            print(f"upscaled {source} x{scale} into {args.output}")
        else:
            raise UpscaleError(f"{source}: no such file or folder; check the path")
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
