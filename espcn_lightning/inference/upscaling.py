"""Upscaling from Python in one call: ``upscale_image`` and ``upscale_video``, as the ``upscale``
command does it (Y by the network, Cb and Cr bicubic, large images in tiles, the fastest engine
``auto`` finds here).

>>> from espcn_lightning import upscale_image
>>> upscale_image("photo.jpg").save("photo_x3.png")  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from espcn_lightning.core.errors import UpscaleError
from espcn_lightning.core.images import normalise_mode, read_image
from espcn_lightning.core.tiling import DEFAULT_TILE, ImageUpscaler, tile_margin, tiled_upscaler
from espcn_lightning.inference.engines import build, pick_device
from espcn_lightning.inference.pretrained import load_model, picture_model
from espcn_lightning.inference.video import stream_video

log = logging.getLogger(__name__)
Picture = TypeVar("Picture", np.ndarray, Image.Image)


@functools.lru_cache(maxsize=8)
def image_upscaler(
    scale: int | None = None,
    model: str | None = None,
    engine: str = "auto",
    device: str = "auto",
    tile: int = DEFAULT_TILE,
) -> tuple[ImageUpscaler, int]:
    """The colour upscaler the ``upscale`` command would use, and its factor: ``model`` (a shipped
    name or a .pt/.ckpt, checked against ``scale`` if both are given) or the shipped model for
    ``scale`` for pictures of unknown history (``picture_model``: the robust one; 3 if neither
    is given). Built once per setting and kept; logs which model it loaded."""
    name = model or picture_model(scale or 3)
    net = load_model(name, scale=scale).to(pick_device(device))
    log.info("upscaling with %s", name)
    return tiled_upscaler(build(engine, net), net.scale, tile_margin(net), tile), net.scale


def _pixels(image: np.ndarray | Image.Image) -> np.ndarray:
    """A uint8 grey or RGB array from a PIL image or an array, or an UpscaleError saying why not."""
    if isinstance(image, Image.Image):
        return normalise_mode(image, Path("<PIL image>"))
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise UpscaleError("give a path, a PIL image or a uint8 array (H, W) or (H, W, 3)")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise UpscaleError(f"an array of shape {image.shape}: give (H, W) grey or (H, W, 3) RGB")
    return np.ascontiguousarray(image)


def upscale_image(
    image: str | Path | Picture,
    scale: int | None = None,
    model: str | Path | None = None,
    engine: str = "auto",
    tile: int = DEFAULT_TILE,
) -> Image.Image | Picture:
    """Upscale a picture: a path (read upright, as a viewer shows it) or a PIL image gives a PIL
    image, an RGB (H, W, 3) or grey (H, W) uint8 array gives an array. ``scale`` picks the shipped
    model for pictures of unknown history (default x3: the robust model, which gains over bicubic
    however the picture was shrunk), or ``model`` names one (a shipped name such as
    ``espcn_x3_relu_291``, the paper-protocol model, or a .pt/.ckpt file).

    >>> big = upscale_image(np.zeros((20, 30, 3), np.uint8), scale=2)  # doctest: +SKIP
    >>> big.shape  # doctest: +SKIP
    (40, 60, 3)
    """
    enlarge, _ = image_upscaler(scale, None if model is None else str(model), engine, "auto", tile)
    if isinstance(image, str | Path):
        return Image.fromarray(enlarge(read_image(image)))
    result = enlarge(_pixels(image))
    return Image.fromarray(result) if isinstance(image, Image.Image) else result


def upscale_video(
    source: str | Path,
    target: str | Path,
    scale: int | None = None,
    model: str | Path | None = None,
    engine: str = "auto",
    overwrite: bool = False,
    progress: bool = True,
) -> int:
    """Upscale a video (or an animated image) into ``target`` (.mp4 or .avi), frame by frame;
    returns the frames written. Audio is not carried over; an existing ``target`` is replaced
    only with ``overwrite``.

    >>> upscale_video("clip.mp4", "clip_x3.mp4")  # doctest: +SKIP
    """
    enlarge, factor = image_upscaler(scale, None if model is None else str(model), engine)
    return stream_video(Path(source), Path(target), enlarge, factor, overwrite, progress)
