"""What else happens to a picture on its way to a user: blur before it is shrunk, sensor noise and
JPEG after, and ``Pipeline``, which chains them around a resize into one degradation.

Every step maps a (..., H, W) float image in [0, 1] to another; the blur works on the HR image,
noise and JPEG on the LR one. Random steps take a seeded ``numpy.random.Generator`` so that a
pipeline's output depends only on its seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import cv2
import numpy as np
import torch

from espcn_lightning.core.errors import ConfigError

#: One step of a pipeline: a (..., H, W) image in [0, 1] to another.
Step = Callable[[torch.Tensor], torch.Tensor]


def anisotropic_kernel(sigma_x: float, sigma_y: float, angle: float) -> np.ndarray:
    """A normalised Gaussian kernel with standard deviations ``sigma_x`` and ``sigma_y`` (pixels)
    along axes turned by ``angle`` degrees, 2 * ceil(3 * max sigma) + 1 pixels wide."""
    theta = math.radians(angle)
    rotation = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    covariance = rotation @ np.diag([sigma_x**2, sigma_y**2]) @ rotation.T
    radius = math.ceil(3 * max(sigma_x, sigma_y))
    grid = np.arange(-radius, radius + 1, dtype=np.float64)
    points = np.stack(np.meshgrid(grid, grid, indexing="xy"), axis=-1)
    exponent = np.einsum("...i,ij,...j->...", points, np.linalg.inv(covariance), points)
    kernel = np.exp(-0.5 * exponent)
    return kernel / kernel.sum()


def planes(image: torch.Tensor) -> np.ndarray:
    """The (N, H, W) float64 numpy view of an (..., H, W) tensor, for per-plane library calls."""
    return image.detach().cpu().to(torch.float64).reshape(-1, *image.shape[-2:]).numpy()


def from_planes(stack: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """An (N, H, W) numpy stack back in the shape and dtype of ``like``."""
    return torch.from_numpy(np.ascontiguousarray(stack)).reshape(like.shape).to(like.dtype)


class Blur:
    """Gaussian blur, isotropic or not (``sigma_y`` and ``angle``), with symmetric borders."""

    def __init__(self, sigma_x: float, sigma_y: float | None = None, angle: float = 0.0) -> None:
        sigma_y = sigma_x if sigma_y is None else sigma_y
        if min(sigma_x, sigma_y) <= 0:
            raise ConfigError(f"blur sigma ({sigma_x}, {sigma_y}): use positive widths in pixels")
        self.sigma_x, self.sigma_y, self.angle = sigma_x, sigma_y, angle
        self.kernel = anisotropic_kernel(sigma_x, sigma_y, angle)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        stack = planes(image)
        blurred = [cv2.filter2D(p, -1, self.kernel, borderType=cv2.BORDER_REFLECT) for p in stack]
        return from_planes(np.stack(blurred), image)

    def __repr__(self) -> str:
        return f"Blur(sigma_x={self.sigma_x}, sigma_y={self.sigma_y}, angle={self.angle})"


class Noise:
    """Additive white Gaussian noise of ``sigma`` grey levels (of 255), clipped to [0, 1]."""

    def __init__(self, sigma: float, seed: int = 0) -> None:
        if sigma < 0:
            raise ConfigError(f"noise sigma={sigma}: use a level >= 0 (grey levels of 255)")
        self.sigma, self.rng = sigma, np.random.default_rng(seed)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        stack = planes(image)
        noisy = stack + self.rng.normal(0.0, self.sigma / 255.0, stack.shape)
        return from_planes(np.clip(noisy, 0.0, 1.0), image)

    def __repr__(self) -> str:
        return f"Noise(sigma={self.sigma})"


def jpeg_plane(plane: np.ndarray, quality: int) -> np.ndarray:
    """One [0, 1] plane stored as a greyscale JPEG by OpenCV (libjpeg) and read back."""
    pixels = np.clip(np.floor(plane * 255.0 + 0.5), 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    assert ok, "OpenCV could not encode a JPEG"
    decoded = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    assert decoded is not None, "OpenCV could not decode its own JPEG"
    return decoded.astype(np.float64) / 255.0


class Jpeg:
    """JPEG compression at ``quality`` (1-100), as a camera, a website or a messenger applies it."""

    def __init__(self, quality: int) -> None:
        if not 1 <= quality <= 100:
            raise ConfigError(f"jpeg quality={quality}: use 1 to 100")
        self.quality = quality

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        stack = planes(image)
        return from_planes(np.stack([jpeg_plane(p, self.quality) for p in stack]), image)

    def __repr__(self) -> str:
        return f"Jpeg(quality={self.quality})"


class Pipeline:
    """Steps applied in order: HR steps (blur), then a resize that makes the LR image, then LR
    steps (noise, JPEG): the degradation as one callable."""

    def __init__(self, steps: Sequence[Step]) -> None:
        if not steps:
            raise ConfigError("degradation.steps is empty: give at least the resize")
        self.steps = list(steps)

    def __call__(self, hr: torch.Tensor) -> torch.Tensor:
        image = hr
        for step in self.steps:
            image = step(image)
        return image

    def __repr__(self) -> str:
        return f"Pipeline({', '.join(map(repr, self.steps))})"
