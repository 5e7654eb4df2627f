"""The field's SR metrics: per-image PSNR and SSIM on quantised Y with the border shaved.

The conventions are the paper's and BasicSR's: clamp and quantise to uint8 first, shave ``scale``
pixels, one value per image, dataset means weighted by image. PSNR is torchmetrics' (per image, as
its default pools the MSE over a batch). SSIM is written here: torchmetrics' reflect-pads the
image, which moves SSIM by up to 0.0013 from the field's valid-window value and is 100x slower.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torchmetrics.functional.image import peak_signal_noise_ratio

from espcn_lightning.degradations import gaussian_kernel


def quantise(image: torch.Tensor) -> torch.Tensor:
    """Clamp an image in [0, 1] and round it to 8-bit levels, returned as float64 in [0, 255]."""
    return torch.floor(image.to(torch.float64).clamp(0, 1) * 255 + 0.5)


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
    """Per-image SSIM (11x11 Gaussian window, sigma 1.5, L = 255) over valid windows only."""
    x, y = _as_batch(shave(prediction, border)), _as_batch(shave(target, border))
    window = gaussian_kernel(11, 1.5).to(x.device)[None, None].repeat(x.shape[1], 1, 1, 1)

    def blur(image: torch.Tensor) -> torch.Tensor:
        return F.conv2d(image, window, groups=x.shape[1])

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return index.flatten(1).mean(1)


@dataclass
class DatasetScore:
    """Per-image scores of one dataset, and their means."""

    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def add(self, psnr_value: float, ssim_value: float, seconds: float) -> None:
        """Record one image."""
        self.psnr.append(psnr_value)
        self.ssim.append(ssim_value)
        self.seconds.append(seconds)

    def summary(self) -> dict[str, float | int]:
        """Mean PSNR, SSIM and seconds per image, and the image count."""
        n = len(self.psnr)
        return {
            "psnr": sum(self.psnr) / n,
            "ssim": sum(self.ssim) / n,
            "images": n,
            "seconds_per_image": sum(self.seconds) / n,
        }


def average_by_image(scores: dict[str, DatasetScore]) -> dict[str, float | int]:
    """The paper's "Average" row: every test image weighs the same, whatever its dataset."""
    psnrs = [value for score in scores.values() for value in score.psnr]
    ssims = [value for score in scores.values() for value in score.ssim]
    return {"psnr": sum(psnrs) / len(psnrs), "ssim": sum(ssims) / len(ssims), "images": len(psnrs)}
