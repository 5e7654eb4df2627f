"""Reading images of any mode into 8-bit arrays, with clear errors for files that are not images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from espcn_lightning.core.colour import round_half_up
from espcn_lightning.core.errors import ImageReadError
from espcn_lightning.core.files import atomic_output

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

#: Refuse images above this many pixels (decompression bombs); ESPCN_MAX_PIXELS raises it.
MAX_PIXELS = int(os.environ.get("ESPCN_MAX_PIXELS", 100_000_000))

# read_image applies MAX_PIXELS (per call, overridable) before decoding, so Pillow's own limit,
# process-wide, is turned off once here rather than on every read.
Image.MAX_IMAGE_PIXELS = None


def is_image_file(path: Path) -> bool:
    """Whether a path has one of the image suffixes this project reads."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def _to_uint8(array: np.ndarray, path: Path) -> np.ndarray:
    """Scale 16-bit or 32-bit integer samples to 8 bits, rounding to nearest; float samples by
    their range: [0, 1] (the float convention) or [0, 255] (8-bit levels), else refused."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    if array.dtype.kind == "f":
        return _float_to_uint8(array, path)
    peak = 65535.0 if array.max(initial=0) > 255 or array.dtype == np.uint16 else 255.0
    scaled = np.clip(array.astype(np.float64), 0, peak) * (255.0 / peak)
    return round_half_up(scaled).astype(np.uint8)


def _float_to_uint8(array: np.ndarray, path: Path) -> np.ndarray:
    """Float samples as 8-bit levels: [0, 1] scaled by 255, [0, 255] as they are."""
    finite = np.isfinite(array)
    low, high = (array[finite].min(), array[finite].max()) if finite.any() else (0.0, 0.0)
    if not finite.all() or low < 0 or high > 255:
        raise ImageReadError(
            f"{path}: float samples outside 0..1 and 0..255 (from {low:g} to {high:g}, or NaN); "
            "save it as an 8- or 16-bit image first"
        )
    peak = 1.0 if high <= 1.0 else 255.0
    return round_half_up(array.astype(np.float64) * (255.0 / peak)).astype(np.uint8)


def read_image(path: str | Path, max_pixels: int | None = None) -> np.ndarray:
    """Read an image as uint8, as a viewer shows it: (H, W) for grey content, (H, W, 3) RGB
    otherwise, turned upright by its EXIF orientation (a phone's photo).

    Palette images are expanded, alpha is dropped, 16-bit samples are scaled to 8 bits, float
    samples read by their range (``_float_to_uint8``).
    """
    path, max_pixels = Path(path), max_pixels or MAX_PIXELS
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise ImageReadError(
                    f"{path}: {width}x{height} pixels is above the limit of {max_pixels:,}; "
                    "downscale it first or raise ESPCN_MAX_PIXELS"
                )
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
            return normalise_mode(image, path)
    except ImageReadError:
        raise
    except FileNotFoundError as error:
        raise ImageReadError(f"{path}: no such file; check the path") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageReadError(
            f"{path}: not a readable image ({error}); replace or remove the file"
        ) from error


def normalise_mode(image: Image.Image, path: Path) -> np.ndarray:
    """Convert a decoded Pillow image of any mode to a uint8 grey or RGB array."""
    mode = image.mode
    if mode in ("1", "L", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        return _to_uint8(np.array(image), path)
    if mode == "LA":
        return np.array(image.getchannel("L"))
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.array(image)


def is_image(path: str | Path) -> bool:
    """Whether Pillow recognises ``path`` as an image (reading only its header)."""
    try:
        with Image.open(path):
            return True
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return False


def frame_count(path: str | Path) -> int:
    """Frames in an image file: more than 1 for an animated GIF, PNG or WebP or a multi-page TIFF
    (which ``read_image`` reads the first of); 1 for a still or a file it cannot open."""
    try:
        with Image.open(path) as image:
            return getattr(image, "n_frames", 1)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return 1


def write_image(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 grey or RGB array whole or not at all (``atomic_output``); the format
    follows the file suffix."""
    path = Path(path)
    with atomic_output(path) as scratch:
        Image.fromarray(array).save(scratch)
