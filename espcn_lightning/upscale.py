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
import os
import sys
from pathlib import Path

from tqdm import tqdm

from espcn_lightning.core.errors import ImageReadError, UpscaleError, one_line_errors
from espcn_lightning.core.files import prepare_output
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
from espcn_lightning.inference.pretrained import DEFAULT_MODELS, load_model, picture_model
from espcn_lightning.inference.video import VIDEO_SUFFIXES, is_video, stream_video


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
    prepare_output(source, target, overwrite, IMAGE_SUFFIXES, "an image")
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
        prepare_output(path, target / path.name, overwrite, IMAGE_SUFFIXES, "an image")
    for done, path in enumerate(tqdm(files, desc="upscale", unit="img")):
        try:
            image = read_image(path)
        except ImageReadError as error:
            raise ImageReadError(
                f"{error}; {done} of {len(files)} images were upscaled into {target} before it"
            ) from error
        write_image(target / path.name, enlarge(image))
    return len(files)


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
        "--model",
        help="a shipped name or a .pt/.ckpt (default: the robust shipped model for --scale, "
        "made for pictures shrunk any way; espcn_xN_relu_291 is the paper-protocol one)",
    )
    parser.add_argument(
        "--scale", type=int, help="upscaling factor (default 3; with --model: checked against it)"
    )
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument(
        "--engine",
        default="auto",
        choices=[e for e in ENGINES if e != "int8"],
        help="auto: the fastest exact engine, measured here for the input's size on first use "
        "and remembered (~/.cache/espcn-lightning/engines.json, or $ESPCN_ENGINE_CACHE)",
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
    model = args.model or picture_model(args.scale or 3)
    net = load_model(model, scale=args.scale).to(pick_device(args.device))
    scale = net.scale
    print(f"model: {model}")
    enlarge = tiled_upscaler(build(args.engine, net), scale, tile_margin(net), args.tile)
    if source.is_dir():
        count = upscale_folder(source, target, enlarge, args.overwrite)
        print(f"upscaled {count} images x{scale} into {target}")
    elif is_video(source, target):
        frames = stream_video(source, target, enlarge, scale, args.overwrite)
        print(f"upscaled {frames} frames x{scale} into {target} (audio not carried)")
    else:
        upscale_image(source, target, enlarge, args.overwrite)
        print(f"upscaled {source} x{scale} into {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
