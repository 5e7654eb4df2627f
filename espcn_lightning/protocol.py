"""The evaluation protocol as a library: degrade, upscale, quantise, score, average by image.

The field's protocol, which is what the paper's Table 1 numbers mean: crop HR to a multiple of the
scale, take its MATLAB-rounded Y, degrade it, upscale, clamp and quantise to uint8, shave ``scale``
pixels, PSNR/SSIM per image, then the mean per dataset and over every image.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from espcn_lightning.colour import luma
from espcn_lightning.data import scored_files
from espcn_lightning.degradations import Degradation, modcrop
from espcn_lightning.engines import Upscaler
from espcn_lightning.images import read_image
from espcn_lightning.metrics import psnr, quantise, ssim

log = logging.getLogger(__name__)


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


def evaluate_image(
    image: np.ndarray, upscale: Upscaler, degrade: Degradation, scale: int
) -> tuple[float, float, float]:
    """PSNR, SSIM and upscaling seconds for one HR image under the protocol."""
    hr = modcrop(torch.from_numpy(luma(image)).to(torch.float64), scale)
    lr = degrade(hr / 255.0)
    start = time.perf_counter()
    sr = upscale(lr[None, None])
    seconds = time.perf_counter() - start
    sr = quantise(sr)
    return float(psnr(sr, hr, scale)[0]), float(ssim(sr, hr, scale)[0]), seconds


def evaluate(
    upscale: Upscaler,
    degrade: Degradation,
    scale: int,
    data_dir: str | Path,
    datasets: list[str],
) -> dict:
    """Per-dataset and image-weighted average scores, and every image's, shaped as table1.json;
    a name may be ``NAME/N``, every N-th image of a set (``data.scored_files``)."""
    scores: dict[str, DatasetScore] = {}
    images: list[dict] = []
    for name in datasets:
        scores[name] = DatasetScore()
        for path in scored_files(data_dir, name):
            image = read_image(path)
            if min(image.shape[:2]) < 3 * scale:
                log.warning(
                    "skipping %s: too small to score once %d pixels are shaved", path, scale
                )
                continue
            psnr_value, ssim_value, seconds = evaluate_image(image, upscale, degrade, scale)
            scores[name].add(psnr_value, ssim_value, seconds)
            images.append(
                {"dataset": name, "image": path.name, "psnr": psnr_value, "ssim": ssim_value}
            )
        log.info("%s: %.3f dB", name, scores[name].summary()["psnr"])
    return {
        "datasets": {name: score.summary() for name, score in scores.items()},
        "average": average_by_image(scores),
        "images": images,
    }
