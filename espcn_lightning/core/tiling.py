"""Upscaling large images in overlapping tiles: memory bounded by the tile, not by the image.

Each tile is cut with a margin of real neighbouring pixels at least as wide as the network's
receptive field (and the bicubic chroma kernel's reach); only the tile's centre is kept, so every
output pixel sees exactly the context it sees in the whole image, and with the fp32 CPU engines
(eager, channels_last, onnxruntime) the result is bit for bit the whole image's; bf16 too where
the CPU emulates it. With native bf16 (AMX, AVX-512 BF16) oneDNN may block a tile's convolutions
unlike the whole image's, so its sums may round differently (seen on an Intel Xeon with AMX). On
CUDA, cuDNN picks its convolution algorithm by shape, so a
tile's sums may round differently: measured on an H200, up to 1 level apart in up to 2.9% of the
values (none for fp16 at the default tile).
Written by hand: torch's ``fold`` sums overlaps rather than cropping them, and no library in the
stack tiles an arbitrary image function.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from espcn_lightning.core.colour import upscale_rgb
from espcn_lightning.core.degradations import Upscaler
from espcn_lightning.core.network import ESPCN

#: Maps a uint8 (h, w) or (h, w, 3) image to its (r*h, r*w[, 3]) enlargement.
ImageUpscaler = Callable[[np.ndarray], np.ndarray]

#: Images of more than DEFAULT_TILE^2 LR pixels are cut into tiles of at most DEFAULT_TILE a
#: side: a 512 x 512 tile costs about 0.3 GB at its peak, and a 640 x 360 video frame (1080p out)
#: stays whole (``python -m espcn_lightning.bench`` reports peak memory against image size).
DEFAULT_TILE = 512

#: Smaller tiles are refused: margins would dominate, and below about 25 x 25 pixels torch runs
#: a 3x3 convolution with other kernels (no oneDNN), whose sums may differ in the last bit.
MIN_TILE = 64

#: How far a bicubic kernel reaches when enlarging (Cb and Cr are enlarged bicubic).
BICUBIC_RADIUS = 2


def receptive_radius(net: ESPCN) -> int:
    """LR pixels either side that one output pixel depends on: the sum of the kernels' radii."""
    return sum(kernel // 2 for kernel in net.config()["kernels"])


def tile_margin(net: ESPCN) -> int:
    """The margin that makes tiled colour upscaling identical to whole-image upscaling."""
    return max(receptive_radius(net), BICUBIC_RADIUS)


def spans(size: int, tile: int, margin: int) -> list[tuple[int, int, int, int]]:
    """Split ``range(size)`` into near-equal pieces of at most ``tile``: for each, the kept
    (start, stop) and the cut (start, stop), widened by ``margin`` inside the image."""
    pieces = max(1, math.ceil(size / tile))
    bounds = [round(i * size / pieces) for i in range(pieces + 1)]
    return [
        (start, stop, max(0, start - margin), min(size, stop + margin))
        for start, stop in zip(bounds[:-1], bounds[1:], strict=True)
    ]


def upscale_tiled(
    image: np.ndarray, enlarge: ImageUpscaler, scale: int, margin: int, tile: int
) -> np.ndarray:
    """``enlarge(image)``, computed in tiles of at most ``tile`` a side when the image has more
    than ``tile``^2 pixels (``tile`` 0: never)."""
    if 0 < tile < MIN_TILE:
        raise ValueError(f"tile {tile}: use 0 (no tiling) or at least {MIN_TILE} pixels")
    height, width = image.shape[:2]
    if tile <= 0 or height * width <= tile * tile:
        return enlarge(image)
    out = np.empty((height * scale, width * scale, *image.shape[2:]), np.uint8)
    for y0, y1, cy0, cy1 in spans(height, tile, margin):
        for x0, x1, cx0, cx1 in spans(width, tile, margin):
            part = enlarge(image[cy0:cy1, cx0:cx1])
            top, left = (y0 - cy0) * scale, (x0 - cx0) * scale
            out[y0 * scale : y1 * scale, x0 * scale : x1 * scale] = part[
                top : top + (y1 - y0) * scale, left : left + (x1 - x0) * scale
            ]
    return out


def tiled_upscaler(
    upscale: Upscaler, scale: int, margin: int, tile: int = DEFAULT_TILE
) -> ImageUpscaler:
    """Colour upscaling (Y by ``upscale``, CbCr bicubic) in tiles of at most ``tile`` LR pixels."""
    return lambda image: upscale_tiled(
        image, lambda part: upscale_rgb(part, upscale, scale), scale, margin, tile
    )
