"""The evaluation protocol as a library: degrade, upscale, quantise, score, average by image.

The field's protocol, which is what the paper's Table 1 numbers mean: crop HR to a multiple of the
scale, take its MATLAB-rounded Y, degrade it, upscale, clamp and quantise to uint8, shave ``scale``
pixels, PSNR/SSIM per image, then the mean per dataset and over every image.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from espcn_lightning.core.colour import luma
from espcn_lightning.core.degradations import Degradation, Upscaler, modcrop
from espcn_lightning.core.images import read_image
from espcn_lightning.core.metrics import psnr, quantise, ssim
from espcn_lightning.datasets.catalogue import scored_files

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
    return score_image(*protocol_pair(image, degrade, scale), upscale, scale)


def protocol_pair(
    image: np.ndarray, degrade: Degradation, scale: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """HR (its Y, cropped to the scale, [0, 255]) and its degraded LR ([0, 1]) for one image."""
    hr = modcrop(torch.from_numpy(luma(image)).to(torch.float64), scale)
    return hr, degrade(hr / 255.0)


def score_image(
    hr: torch.Tensor, lr: torch.Tensor, upscale: Upscaler, scale: int, with_ssim: bool = True
) -> tuple[float, float, float]:
    """PSNR, SSIM (nan unless ``with_ssim``) and seconds of one upscaler on one protocol pair."""
    start = time.perf_counter()
    sr = upscale(lr[None, None])
    seconds = time.perf_counter() - start
    sr = quantise(sr)
    similarity = float(ssim(sr, hr, scale)[0]) if with_ssim else float("nan")
    return float(psnr(sr, hr, scale)[0]), similarity, seconds


#: Called once for each scored image, with its dataset, file and decoded pixels.
Visit = Callable[[str, Path, np.ndarray], None]


def evaluate_many(
    upscalers: Mapping[str, Upscaler],
    degrade: Degradation,
    scale: int,
    data_dir: str | Path,
    datasets: list[str],
    visit: Visit | None = None,
    with_ssim: bool = True,
) -> dict[str, dict]:
    """``evaluate`` for several upscalers in one pass: each image is read and degraded once and
    every upscaler scored on the same LR; ``visit`` sees each scored image (the results page and
    figures are made from it, so nothing is read twice). Keyed like ``upscalers``; without
    ``with_ssim`` only PSNR is computed (SSIM's windows cost more than the network)."""
    scores: dict[str, dict[str, DatasetScore]] = {label: {} for label in upscalers}
    images: dict[str, list[dict]] = {label: [] for label in upscalers}
    for name in datasets:
        for label in upscalers:
            scores[label][name] = DatasetScore()
        for path in scored_files(data_dir, name):
            image = read_image(path)
            if min(image.shape[:2]) < 3 * scale:
                log.warning(
                    "skipping %s: too small to score once %d pixels are shaved", path, scale
                )
                continue
            hr, lr = protocol_pair(image, degrade, scale)
            for label, upscale in upscalers.items():
                psnr_value, ssim_value, seconds = score_image(hr, lr, upscale, scale, with_ssim)
                scores[label][name].add(psnr_value, ssim_value, seconds)
                images[label].append(
                    {"dataset": name, "image": path.name, "psnr": psnr_value, "ssim": ssim_value}
                )
            if visit is not None:
                visit(name, path, image)
        for label in upscalers:
            log.info("%s: %s %.3f dB", name, label, scores[label][name].summary()["psnr"])
    return {
        label: {
            "datasets": {name: score.summary() for name, score in scores[label].items()},
            "average": average_by_image(scores[label]),
            "images": images[label],
        }
        for label in upscalers
    }


def evaluate(
    upscale: Upscaler,
    degrade: Degradation,
    scale: int,
    data_dir: str | Path,
    datasets: list[str],
) -> dict:
    """Per-dataset and image-weighted average scores, and every image's, shaped as table1.json;
    a name may be ``NAME/N``, every N-th image of a set (``catalogue.scored_files``)."""
    return evaluate_many({"model": upscale}, degrade, scale, data_dir, datasets)["model"]
