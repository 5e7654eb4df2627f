"""The field's SR metrics: per-image PSNR and SSIM on quantised Y with the border shaved, and the
cheap per-patch PSNR that validation uses during training.

The conventions are the paper's and BasicSR's: clamp and quantise to uint8 first, shave ``scale``
pixels, one value per image (``protocol.py`` averages them by image). PSNR is torchmetrics' (per
image, as its default pools the MSE over a batch). SSIM is written here: torchmetrics'
reflect-pads the image, which moves SSIM by up to 0.0013 from the field's valid-window value and
is 100x slower.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchmetrics.functional.image import peak_signal_noise_ratio

from espcn_lightning.core.colour import round_half_up
from espcn_lightning.core.degradations import gaussian_line


def quantise(image: torch.Tensor) -> torch.Tensor:
    """Clamp an image in [0, 1] and round it to 8-bit levels, returned as float64 in [0, 255]."""
    return round_half_up(image.to(torch.float64).clamp(0, 1) * 255)


def shave(image: torch.Tensor, border: int) -> torch.Tensor:
    """Drop ``border`` pixels from each side of the last two dims."""
    if border == 0:
        return image
    return image[..., border:-border, border:-border]


def _as_batch(image: torch.Tensor) -> torch.Tensor:
    """View an (H, W), (C, H, W) or (N, C, H, W) image as (N, C, H, W) float64."""
    while image.dim() < 4:
        image = image.unsqueeze(0)
    return image.to(torch.float64)


def psnr(prediction: torch.Tensor, target: torch.Tensor, border: int) -> torch.Tensor:
    """Per-image PSNR (peak 255) of images already on the [0, 255] scale, border shaved."""
    pred, true = _as_batch(shave(prediction, border)), _as_batch(shave(target, border))
    return peak_signal_noise_ratio(pred, true, data_range=255.0, reduction="none", dim=(1, 2, 3))


def ssim(prediction: torch.Tensor, target: torch.Tensor, border: int) -> torch.Tensor:
    """Per-image SSIM (11x11 Gaussian window, sigma 1.5, L = 255) over valid windows only.

    The Gaussian window is separable, so each local mean is an 11-tap column pass then an 11-tap
    row pass (the same sums in float64, 5x fewer operations), the five maps in one batch.
    """
    x, y = _as_batch(shave(prediction, border)), _as_batch(shave(target, border))
    line = gaussian_line(11, 1.5).to(x.device)
    maps = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    channels = maps.shape[1]
    maps = F.conv2d(maps, line.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)
    maps = F.conv2d(maps, line.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    mu_x, mu_y, xx, yy, xy = maps.split(x.shape[1], dim=1)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    var_x, var_y, cov = xx - mu_x**2, yy - mu_y**2, xy - mu_x * mu_y
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return index.flatten(1).mean(1)


def patch_psnr(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Per-patch PSNR (peak 1) of clamped, unquantised outputs: a cheap validation signal."""
    mse = (sr.clamp(0, 1) - hr).pow(2).flatten(1).mean(1)
    return -10 * torch.log10(mse.clamp_min(1e-12))
