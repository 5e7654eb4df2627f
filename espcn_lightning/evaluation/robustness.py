"""The robustness matrix: each upscaler scored on each test set under each degradation of the zoo
(``conf/degradation/``), beside bicubic on the same LR images, as the gain over bicubic per cell.

A model trained on one degradation can lose to bicubic on another (it sharpens aliasing it never
saw); this is the table that shows it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import OmegaConf

from espcn_lightning.core.degradations import Degradation, Upscaler, bicubic_upscaler
from espcn_lightning.core.errors import ConfigError
from espcn_lightning.evaluation.protocol import evaluate_many

#: The degradations of the matrix, in its row order: the paper's first.
MATRIX = (
    "bicubic",
    "opencv_cubic",
    "opencv_linear",
    "opencv_area",
    "opencv_nearest",
    "pillow_bicubic",
    "pillow_bilinear",
    "pillow_nearest",
    "gaussian",
    "anisotropic",
    "noise",
    "jpeg",
)
BICUBIC = "bicubic"
#: The ``degradation`` config group, whose options are the zoo.
ZOO_DIR = Path(__file__).resolve().parents[1] / "conf" / "degradation"


def zoo() -> list[str]:
    """Every option of the ``degradation`` config group."""
    return sorted(path.stem for path in ZOO_DIR.glob("*.yaml"))


def build_degradation(name: str, scale: int, seed: int = 0) -> Degradation:
    """The degradation ``conf/degradation/NAME.yaml`` describes, at ``scale``."""
    path = ZOO_DIR / f"{name}.yaml"
    if not path.exists():
        raise ConfigError(f"degradations: no degradation {name!r}; choose from {', '.join(zoo())}")
    config = OmegaConf.create({"scale": scale, "seed": seed, "degradation": OmegaConf.load(path)})
    return instantiate(config.degradation)


def robustness_matrix(
    upscalers: Mapping[str, Upscaler],
    degradations: list[str],
    scale: int,
    data_dir: str | Path,
    datasets: list[str],
) -> dict:
    """Mean PSNR of bicubic and of every upscaler, per degradation and dataset, every upscaler
    scored on the same LR images (each image degraded once per degradation)."""
    cells: dict[str, dict[str, dict[str, float]]] = {}
    everyone = {BICUBIC: bicubic_upscaler(scale), **upscalers}
    for name in degradations:
        degrade = build_degradation(name, scale)
        scored = evaluate_many(everyone, degrade, scale, data_dir, datasets, with_ssim=False)
        cells[name] = {
            dataset: {label: scored[label]["datasets"][dataset]["psnr"] for label in everyone}
            for dataset in datasets
        }
    return {"scale": scale, "models": list(upscalers), "datasets": datasets, "cells": cells}


def markdown_matrix(matrix: dict) -> str:
    """The matrix as Markdown: a row per degradation and set, bicubic's PSNR, then each model's
    gain over it (dB)."""
    models = matrix["models"]
    lines = [
        f"Robustness, x{matrix['scale']}: PSNR of bicubic (dB) and each model's gain over it",
        "",
        "| degradation | set | bicubic | " + " | ".join(f"`{m}`" for m in models) + " |",
        "|---|---|---:|" + "---:|" * len(models),
    ]
    for name, rows in matrix["cells"].items():
        for dataset, row in rows.items():
            gains = " | ".join(f"{row[m] - row[BICUBIC]:+.2f}" for m in models)
            lines.append(f"| {name} | {dataset} | {row[BICUBIC]:.2f} | {gains} |")
    return "\n".join([*lines, ""])


def worst_gains(matrix: dict) -> dict[str, float]:
    """Each model's smallest gain over bicubic across all cells of the matrix."""
    return {
        model: min(
            row[model] - row[BICUBIC] for rows in matrix["cells"].values() for row in rows.values()
        )
        for model in matrix["models"]
    }
