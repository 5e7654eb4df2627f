"""Downscaling as OpenCV and Pillow do it: the degradations of images users actually have.

The paper's models are trained on MATLAB's antialiased bicubic only (``degradations.Bicubic``).
Most pipelines shrink with OpenCV, whose cubic, linear and nearest filters do not antialias (only
INTER_AREA averages), or with Pillow, whose filters do (all but NEAREST). These wrap each library's
own ``resize``, so an LR image here is the one that library would make.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image

from espcn_lightning.core.errors import ConfigError

OPENCV_FILTERS = {
    "cubic": cv2.INTER_CUBIC,
    "linear": cv2.INTER_LINEAR,
    "area": cv2.INTER_AREA,
    "nearest": cv2.INTER_NEAREST,
    "lanczos": cv2.INTER_LANCZOS4,
}
PILLOW_FILTERS = {
    "bicubic": Image.Resampling.BICUBIC,
    "bilinear": Image.Resampling.BILINEAR,
    "box": Image.Resampling.BOX,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}
LIBRARIES: dict[str, dict[str, Any]] = {"opencv": OPENCV_FILTERS, "pillow": PILLOW_FILTERS}


def resize_plane(plane: np.ndarray, size: tuple[int, int], library: str, method: str) -> np.ndarray:
    """One (H, W) float plane resized to ``size`` = (height, width) by ``library``'s filter."""
    height, width = size
    if library == "opencv":
        return cv2.resize(plane, (width, height), interpolation=OPENCV_FILTERS[method])
    image = Image.fromarray(plane.astype(np.float32), mode="F")
    return np.asarray(image.resize((width, height), PILLOW_FILTERS[method]), dtype=plane.dtype)


class Resize:
    """Downscale (..., H, W) by an integer ``scale`` with OpenCV's or Pillow's ``resize``.

    Works in float64 (OpenCV) or float32 (Pillow's "F" mode), so the LR image is the library's
    filter and nothing else; no rounding is added.
    """

    def __init__(self, scale: int, library: str = "opencv", method: str = "cubic") -> None:
        if library not in LIBRARIES:
            raise ConfigError(f"degradation.library={library!r}: choose {' or '.join(LIBRARIES)}")
        if method not in LIBRARIES[library]:
            choices = ", ".join(LIBRARIES[library])
            raise ConfigError(f"degradation.method={method!r} for {library}: choose {choices}")
        self.scale, self.library, self.method = scale, library, method

    def __call__(self, hr: torch.Tensor) -> torch.Tensor:
        """LR of a (..., H, W) image whose sides are multiples of the scale."""
        height, width = hr.shape[-2:]
        size = (height // self.scale, width // self.scale)
        planes = hr.detach().cpu().to(torch.float64).reshape(-1, height, width).numpy()
        lr = np.stack([resize_plane(plane, size, self.library, self.method) for plane in planes])
        return torch.from_numpy(lr).reshape(*hr.shape[:-2], *size).to(hr.dtype)

    def __repr__(self) -> str:
        return f"Resize(scale={self.scale}, library={self.library!r}, method={self.method!r})"
