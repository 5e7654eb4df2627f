"""Degradations that turn HR images into LR ones: MATLAB-compatible bicubic, Gaussian blur, modcrop.

No library in our stack reproduces MATLAB's ``imresize`` (antialiased bicubic, a = -0.5, symmetric
padding), which the field's published numbers are computed with, so it is written here. Resizing is
separable and linear, so each axis becomes one dense weight matrix and the image two matmuls.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import torch
import torch.nn.functional as F

from espcn_lightning.core.errors import ConfigError

#: Maps an HR image (..., H, W) in [0, 1] to its LR version: Bicubic, GaussianBlur.
Degradation = Callable[[torch.Tensor], torch.Tensor]
#: Maps an (N, 1, h, w) LR Y / 255 tensor to the (N, 1, rh, rw) SR one: a network run by an
#: engine (``inference.engines``), or ``bicubic_upscaler``.
Upscaler = Callable[[torch.Tensor], torch.Tensor]

#: Keys' kernel parameter: MATLAB's imresize uses -0.5, OpenCV's INTER_CUBIC -0.75.
MATLAB_A, OPENCV_A = -0.5, -0.75


def cubic(x: torch.Tensor, a: float = MATLAB_A) -> torch.Tensor:
    """Keys' cubic convolution kernel, by default with MATLAB's a = -0.5 (``colour`` enlarges
    chroma with OpenCV's -0.75, the value its INTER_CUBIC, and so every viewer, uses)."""
    ax = x.abs()
    ax2, ax3 = ax**2, ax**3
    near = ((a + 2) * ax3 - (a + 3) * ax2 + 1) * (ax <= 1)
    far = (a * ax3 - 5 * a * ax2 + 8 * a * ax - 4 * a) * ((ax > 1) & (ax <= 2))
    return near + far


@lru_cache(maxsize=256)
def resize_matrix(in_size: int, out_size: int, scale: float, antialias: bool) -> torch.Tensor:
    """The (out_size, in_size) float64 matrix that resizes one axis as MATLAB's imresize does."""
    kernel_width = 4.0
    stretch = scale if (antialias and scale < 1) else 1.0
    kernel_width /= stretch
    out = torch.arange(1, out_size + 1, dtype=torch.float64)
    centre = out / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(centre - kernel_width / 2)
    taps = math.ceil(kernel_width) + 2
    indices = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :]
    weights = stretch * cubic(stretch * (centre[:, None] - indices))
    weights = weights / weights.sum(dim=1, keepdim=True)
    mirrored = torch.cat([torch.arange(in_size), torch.arange(in_size - 1, -1, -1)])
    source = mirrored[(indices.long() - 1) % (2 * in_size)]
    matrix = torch.zeros(out_size, in_size, dtype=torch.float64)
    matrix.scatter_add_(1, source, weights)
    return matrix


def imresize(image: torch.Tensor, scale: float, antialias: bool = True) -> torch.Tensor:
    """Resize the last two dims by ``scale`` like MATLAB ``imresize(I, scale, 'bicubic')``.

    The output size is ceil(size * scale). Floating inputs are resized in their own precision
    (float64 for evaluation, float32 is enough for viewing); integer inputs in float64.
    """
    dtype = image.dtype if image.is_floating_point() else torch.float64
    height, width = image.shape[-2:]
    out_h, out_w = math.ceil(height * scale - 1e-9), math.ceil(width * scale - 1e-9)
    rows = resize_matrix(height, out_h, scale, antialias).to(image.device, dtype)
    cols = resize_matrix(width, out_w, scale, antialias).to(image.device, dtype)
    return rows @ image.to(dtype) @ cols.T


def modcrop(image: torch.Tensor, scale: int) -> torch.Tensor:
    """Crop (never resize) the last two dims to multiples of ``scale``, keeping the top-left."""
    height, width = image.shape[-2:]
    return image[..., : height - height % scale, : width - width % scale]


def gaussian_line(size: int, sigma: float) -> torch.Tensor:
    """A normalised 1-D Gaussian of ``size`` taps: the separable factor of ``gaussian_kernel``."""
    offsets = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    line = torch.exp(-(offsets**2) / (2 * sigma**2))
    return line / line.sum()


def gaussian_kernel(size: int, sigma: float) -> torch.Tensor:
    """A normalised (size, size) Gaussian kernel."""
    line = gaussian_line(size, sigma)
    return line[:, None] * line[None, :]


def bicubic_upscaler(scale: int) -> Upscaler:
    """The MATLAB bicubic baseline as an upscaler."""
    return lambda lr: imresize(lr, scale)


class Bicubic:
    """MATLAB bicubic downscaling by an integer factor: the degradation of the paper's Table 1."""

    def __init__(self, scale: int) -> None:
        self.scale = scale

    def __call__(self, hr: torch.Tensor) -> torch.Tensor:
        """LR of a (..., H, W) image whose sides are multiples of the scale."""
        return imresize(hr, 1 / self.scale)

    def __repr__(self) -> str:
        return f"Bicubic(scale={self.scale})"


class GaussianBlur:
    """Gaussian blur (reflect padding), then every ``scale``-th pixel, starting mid-block."""

    def __init__(self, scale: int, kernel_size: int = 5, sigma: float = 1.0) -> None:
        if kernel_size % 2 == 0 or kernel_size < 1:
            raise ConfigError(f"degradation.kernel_size={kernel_size}: use an odd size >= 1")
        self.scale, self.kernel_size, self.sigma = scale, kernel_size, sigma

    def __call__(self, hr: torch.Tensor) -> torch.Tensor:
        """LR of a (..., H, W) image whose sides are multiples of the scale."""
        shape = hr.shape
        flat = hr.reshape(-1, 1, *shape[-2:]).to(torch.float64)
        pad = self.kernel_size // 2
        flat = F.pad(flat, (pad, pad, pad, pad), mode="reflect")
        kernel = gaussian_kernel(self.kernel_size, self.sigma).to(flat.device)
        blurred = F.conv2d(flat, kernel[None, None])
        offset = self.scale // 2
        lr = blurred[..., offset :: self.scale, offset :: self.scale]
        return lr.reshape(*shape[:-2], *lr.shape[-2:]).to(hr.dtype)

    def __repr__(self) -> str:
        return (
            f"GaussianBlur(scale={self.scale}, kernel_size={self.kernel_size}, sigma={self.sigma})"
        )
