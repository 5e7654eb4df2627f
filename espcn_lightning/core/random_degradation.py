"""A randomised degradation, drawn afresh for every image or training patch (BSRGAN/Real-ESRGAN
style, kept to what a three-layer network can learn): maybe a blur, one of the resizers people
use, maybe noise, maybe JPEG. Trained on it, a model meets on test images what it met in training
whichever library made the LR picture.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from espcn_lightning.core.corruptions import Blur, from_planes, jpeg_plane, planes
from espcn_lightning.core.degradations import imresize
from espcn_lightning.core.errors import ConfigError
from espcn_lightning.core.resizers import LIBRARIES, resize_plane

#: The resizers drawn from, as LIBRARY/METHOD; "matlab/bicubic" is the paper's imresize.
RESIZERS = (
    "matlab/bicubic",
    "opencv/cubic",
    "opencv/linear",
    "opencv/area",
    "opencv/nearest",
    "pillow/bicubic",
    "pillow/bilinear",
    "pillow/nearest",
)


def check_resizer(spec: str) -> tuple[str, str]:
    """LIBRARY/METHOD split and checked, or a ConfigError naming the choices."""
    library, _, method = spec.partition("/")
    if spec != "matlab/bicubic" and method not in LIBRARIES.get(library, {}):
        raise ConfigError(
            f"degradation.resizers: {spec!r} is not a resizer; use matlab/bicubic or "
            "opencv/{"
            + ",".join(LIBRARIES["opencv"])
            + "} or pillow/{"
            + ",".join(LIBRARIES["pillow"])
            + "}"
        )
    return library, method


def check_range(
    option: str, bounds: Sequence[float], low: float, high: float
) -> tuple[float, float]:
    """A (min, max) pair inside [low, high], or a ConfigError naming the option."""
    if len(bounds) != 2 or not low <= bounds[0] <= bounds[1] <= high:
        raise ConfigError(
            f"degradation.{option}={list(bounds)}: give [min, max] within [{low}, {high}]"
        )
    return float(bounds[0]), float(bounds[1])


def check_probability(option: str, value: float) -> float:
    """A probability in [0, 1], or a ConfigError naming the option."""
    if not 0 <= value <= 1:
        raise ConfigError(f"degradation.{option}={value}: use a probability in [0, 1]")
    return float(value)


class RandomDegradation:
    """Per plane: blur with ``blur_probability`` (sigmas drawn in ``blur_sigma`` HR pixels, any
    angle), then one of ``resizers`` drawn uniformly, then noise with ``noise_probability`` (sigma
    in ``noise_sigma`` grey levels), then JPEG with ``jpeg_probability`` (quality in
    ``jpeg_quality``). The draws follow ``seed``, so a training set is the same on every run.

    ``per_patch``: the data module degrades each training patch on its own (with a margin, so no
    patch sees a border the image does not have) rather than the whole image once.
    """

    per_patch = True

    def __init__(
        self,
        scale: int,
        seed: int = 0,
        resizers: Sequence[str] = RESIZERS,
        blur_probability: float = 0.5,
        blur_sigma: Sequence[float] = (0.2, 2.0),
        noise_probability: float = 0.25,
        noise_sigma: Sequence[float] = (1.0, 6.0),
        jpeg_probability: float = 0.25,
        jpeg_quality: Sequence[int] = (60, 95),
    ) -> None:
        if not resizers:
            raise ConfigError("degradation.resizers is empty: name at least one resizer")
        self.scale, self.seed = scale, seed
        self.resizers = [check_resizer(spec) for spec in resizers]
        self.blur_probability = check_probability("blur_probability", blur_probability)
        self.noise_probability = check_probability("noise_probability", noise_probability)
        self.jpeg_probability = check_probability("jpeg_probability", jpeg_probability)
        self.blur_sigma = check_range("blur_sigma", blur_sigma, 0.05, 10.0)
        self.noise_sigma = check_range("noise_sigma", noise_sigma, 0.0, 50.0)
        low, high = check_range("jpeg_quality", jpeg_quality, 1, 100)
        self.jpeg_quality = (int(low), int(high))
        self.rng = np.random.default_rng(seed)

    def degrade_plane(self, hr: np.ndarray) -> np.ndarray:
        """One (H, W) HR plane through one draw of the pipeline."""
        rng = self.rng
        if rng.random() < self.blur_probability:
            sigma_x, sigma_y = rng.uniform(*self.blur_sigma, size=2)
            blur = Blur(sigma_x, sigma_y, rng.uniform(0.0, 180.0))
            hr = planes(blur(torch.from_numpy(hr)))[0]
        library, method = self.resizers[rng.integers(len(self.resizers))]
        size = (hr.shape[0] // self.scale, hr.shape[1] // self.scale)
        if library == "matlab":
            lr = imresize(torch.from_numpy(hr), 1 / self.scale).numpy()
        else:
            lr = resize_plane(hr, size, library, method).astype(np.float64)
        if rng.random() < self.noise_probability:
            sigma = rng.uniform(*self.noise_sigma) / 255.0
            lr = np.clip(lr + rng.normal(0.0, sigma, lr.shape), 0.0, 1.0)
        if rng.random() < self.jpeg_probability:
            lr = jpeg_plane(lr, int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1)))
        return lr

    def __call__(self, hr: torch.Tensor) -> torch.Tensor:
        """LR of each (H, W) plane of a (..., H, W) image, each with its own draw."""
        stack = planes(hr)
        lr = np.stack([self.degrade_plane(plane) for plane in stack])
        return from_planes(lr, torch.empty(*hr.shape[:-2], *lr.shape[-2:], dtype=hr.dtype))

    def __repr__(self) -> str:
        return f"RandomDegradation(scale={self.scale}, seed={self.seed})"
