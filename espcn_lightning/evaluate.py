"""Evaluate an upscaler on the paper's Table 1 test sets under the field's protocol (Hydra app).

``python -m espcn_lightning.evaluate checkpoint=NAME_OR_PATH`` or ``... upscaler=bicubic`` prints
the table beside the paper's values and writes table1.md, table1.json (and figures) to the run dir.
The protocol itself is ``protocol.py``; this app composes it and prints.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig

from espcn_lightning.data import dataset_files
from espcn_lightning.degradations import Degradation
from espcn_lightning.engines import Upscaler, bicubic_upscaler, network_upscaler, pick_device
from espcn_lightning.errors import ConfigError, DataError, UserError
from espcn_lightning.images import read_image, write_image
from espcn_lightning.options import check_scale
from espcn_lightning.pretrained import load_model
from espcn_lightning.protocol import evaluate
from espcn_lightning.results_page import colour_views, write_results_page

#: The paper's Table 1 at x3 (PSNR, dB); its "BSD300" is our BSD100, its "BSD500" our BSD200.
PAPER_X3 = {
    "bicubic": {"Set5": 30.39, "Set14": 27.54, "BSD100": 27.21, "BSD200": 27.26},
    "espcn_relu_t91": {"Set5": 32.39, "Set14": 28.97, "BSD100": 28.20, "BSD200": 28.27},
    "espcn_tanh_t91": {"Set5": 32.55, "Set14": 29.08, "BSD100": 28.26, "BSD200": 28.34},
    "espcn_tanh_imagenet": {"Set5": 33.13, "Set14": 29.49, "BSD100": 28.54, "BSD200": 28.64},
}
PAPER_NAMES = {"BSD100": "BSD100 (paper: BSD300)", "BSD200": "BSD200 (paper: BSD500)"}
NOT_AVAILABLE = (
    "SuperTexture136, the paper's fifth test set, is not publicly available and is left out; "
    "averages weigh each of the images above equally, the paper's column over the same sets."
)


def paper_column(upscaler: str, net_activation: str | None, scale: int) -> str | None:
    """The paper's Table 1 column to print beside ours (only x3 is tabulated)."""
    if scale != 3:
        return None
    return "bicubic" if upscaler == "bicubic" else f"espcn_{net_activation}_t91"


def markdown_table(result: dict, column: str | None) -> str:
    """Table 1 as Markdown: ours beside the paper's matching column and its bicubic."""
    paper = PAPER_X3.get(column or "", {})
    head = (
        f"| Dataset | Images | PSNR (dB) | SSIM | Paper {column or '-'} | Paper bicubic | s/image |"
    )
    lines = [
        f"Table 1, x{result['scale']}, model `{result['model']}`",
        "",
        head,
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in result["datasets"].items():
        lines.append(
            f"| {PAPER_NAMES.get(name, name)} | {row['images']} | {row['psnr']:.2f} | "
            f"{row['ssim']:.4f} | {paper.get(name, float('nan')):.2f} | "
            f"{PAPER_X3['bicubic'].get(name, float('nan')):.2f} | {row['seconds_per_image']:.4f} |"
        )
    avg, rows = result["average"], result["datasets"]

    def weighted(values: dict) -> float:
        if not values or any(n not in values for n in rows):
            return float("nan")
        return sum(values[n] * rows[n]["images"] for n in rows) / avg["images"]

    lines.append(
        f"| **Average** | {avg['images']} | {avg['psnr']:.2f} | {avg['ssim']:.4f} | "
        f"{weighted(paper):.2f} | {weighted(PAPER_X3['bicubic']):.2f} | |"
    )
    return "\n".join([*lines, "", NOT_AVAILABLE, ""])


def colour_figure(
    path: Path, image: np.ndarray, upscale: Upscaler, degrade: Degradation, scale: int
) -> None:
    """Save LR (nearest) | bicubic | model | HR side by side, in colour."""
    views = colour_views(image, upscale, degrade, scale)
    nearest = views.lr.repeat(scale, axis=0).repeat(scale, axis=1)
    write_image(path, np.concatenate([nearest, views.bicubic, views.model, views.hr], axis=1))


def figure_files(data_dir: str, figures: list[str]) -> list[Path]:
    """The images ``figures`` names as DATASET/IMAGE, checked before anything is scored."""
    paths = []
    for item in figures:
        name, _, stem = str(item).partition("/")
        if not stem:
            raise DataError(f"figures: {item!r} is not DATASET/IMAGE, such as Set5/butterfly")
        files = {path.stem: path for path in dataset_files(data_dir, name)}
        if stem not in files:
            names = sorted(files)
            listed = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
            raise DataError(f"figures: {name} has no image {stem!r}; it has {listed}")
        paths.append(files[stem])
    return paths


def build_upscaler(cfg: DictConfig) -> tuple[Upscaler, str, str | None]:
    """The upscaler ``cfg.upscaler`` names, its label, and its activation (None if no net)."""
    if cfg.upscaler == "bicubic":
        return bicubic_upscaler(cfg.scale), "bicubic", None
    if cfg.upscaler != "espcn":
        raise ConfigError(f"upscaler={cfg.upscaler}: choose espcn (and checkpoint=...) or bicubic")
    net = load_model(cfg.checkpoint, scale=cfg.scale).to(pick_device(cfg.device, "device"))
    return network_upscaler(net), str(cfg.checkpoint), net.activation


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    """Evaluate; a missing dataset or unloadable checkpoint ends in a one-line error."""
    try:
        run(cfg)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)


def run(cfg: DictConfig) -> None:
    """Evaluate, print Table 1, write table1.md / table1.json (and figures) to the run dir."""
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    check_scale(cfg.scale)
    upscale, label, activation = build_upscaler(cfg)
    figures = figure_files(cfg.paths.data_dir, list(cfg.figures)) if activation else []
    degrade = instantiate(cfg.degradation)
    result = {
        "scale": cfg.scale,
        "model": label,
        **evaluate(upscale, degrade, cfg.scale, cfg.paths.data_dir, list(cfg.datasets)),
    }
    column = paper_column(cfg.upscaler, activation, cfg.scale)
    table = markdown_table(result, column)
    (out_dir / "table1.md").write_text(table)
    (out_dir / "table1.json").write_text(json.dumps(result, indent=2) + "\n")
    if cfg.results_page and cfg.upscaler != "bicubic":
        baseline = evaluate(
            bicubic_upscaler(cfg.scale), degrade, cfg.scale, cfg.paths.data_dir, list(cfg.datasets)
        )
        paper = (
            {}
            if column is None
            else {f"Paper {column}": PAPER_X3.get(column, {}), "Paper bicubic": PAPER_X3["bicubic"]}
        )
        write_results_page(
            out_dir, result, baseline, paper, cfg.paths.data_dir, upscale, degrade, PAPER_NAMES
        )
    for path in figures:
        image = read_image(path)
        if image.ndim == 3:
            colour_figure(
                out_dir / f"{path.stem}_x{cfg.scale}.png", image, upscale, degrade, cfg.scale
            )
    print(table)
    print(f"written to {out_dir}")


if __name__ == "__main__":
    main()
