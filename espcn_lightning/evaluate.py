"""Evaluate an upscaler on the paper's Table 1 test sets under the field's protocol (Hydra app).

``python -m espcn_lightning.evaluate checkpoint=NAME_OR_PATH`` or ``... upscaler=bicubic`` prints
the table beside the paper's values and writes table1.md, table1.json (and figures) to the run dir.
The protocol itself is ``protocol.py``; this app composes it and prints.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig

from espcn_lightning import published
from espcn_lightning.data import dataset_files
from espcn_lightning.degradations import Degradation
from espcn_lightning.engines import Upscaler, bicubic_upscaler, network_upscaler, pick_device
from espcn_lightning.errors import ConfigError, DataError, UserError
from espcn_lightning.images import read_image, write_image
from espcn_lightning.options import check_scale
from espcn_lightning.pretrained import default_model, load_model
from espcn_lightning.protocol import evaluate
from espcn_lightning.published import Scores
from espcn_lightning.results_page import colour_views, write_results_page

PAPER_NAMES = {"BSD100": "BSD100 (paper: BSD300)", "BSD200": "BSD200 (paper: BSD500)"}


def published_columns(upscaler: str, activation: str | None, scale: int) -> dict[str, Scores]:
    """The published columns to print beside ours: bicubic's alone for bicubic, else the ESPCN
    paper's rows at this scale (its T91 row of the same activation), FSRCNN and SRCNN."""
    found = published.columns(scale, activation)
    if upscaler == "bicubic":
        return {k: v for k, v in found.items() if k == "Paper bicubic"}
    return found


def weighted(values: Scores, rows: dict, images: int) -> float:
    """A column's image-weighted average over our sets (nan where it lacks one of them)."""
    if not values or any(name not in values for name in rows):
        return float("nan")
    return sum(values[name] * rows[name]["images"] for name in rows) / images


def number(value: float) -> str:
    """A published column's cell: two decimals, empty where the paper gives no figure."""
    return "" if math.isnan(value) else f"{value:.2f}"


def markdown_table(result: dict, reference: dict[str, Scores], baseline: dict | None) -> str:
    """Table 1 as Markdown: ours, bicubic as measured here (``baseline``, when scored), and the
    ``reference`` columns quoted from the papers."""
    measured = {name: row["psnr"] for name, row in baseline["datasets"].items()} if baseline else {}
    extra = ({"Bicubic (measured)": measured} if measured else {}) | reference
    head = "| " + " | ".join(["Dataset", "Images", "PSNR (dB)", "SSIM", *extra, "s/image"]) + " |"
    lines = [
        f"Table 1, x{result['scale']}, model `{result['model']}`",
        "",
        head,
        "|---|---:|---:|---:|" + "---:|" * len(extra) + "---:|",
    ]
    rows, avg = result["datasets"], result["average"]
    for name, row in rows.items():
        cells = "".join(f" {number(values.get(name, float('nan')))} |" for values in extra.values())
        lines.append(
            f"| {PAPER_NAMES.get(name, name)} | {row['images']} | {row['psnr']:.2f} | "
            f"{row['ssim']:.4f} |{cells} {row['seconds_per_image']:.4f} |"
        )
    cells = "".join(f" {number(weighted(v, rows, avg['images']))} |" for v in extra.values())
    lines.append(
        f"| **Average** | {avg['images']} | {avg['psnr']:.2f} | {avg['ssim']:.4f} |{cells} |"
    )
    return "\n".join([*lines, "", published.NOT_AVAILABLE, ""])


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
    checkpoint = cfg.checkpoint or default_model(cfg.scale)
    net = load_model(checkpoint, scale=cfg.scale).to(pick_device(cfg.device, "device"))
    return network_upscaler(net), str(checkpoint), net.activation


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
    reference = published_columns(cfg.upscaler, activation, cfg.scale)
    page = cfg.results_page and cfg.upscaler != "bicubic"
    baseline = None
    if page:
        baseline = evaluate(
            bicubic_upscaler(cfg.scale), degrade, cfg.scale, cfg.paths.data_dir, list(cfg.datasets)
        )
    table = markdown_table(result, reference, baseline)
    (out_dir / "table1.md").write_text(table)
    (out_dir / "table1.json").write_text(json.dumps(result, indent=2) + "\n")
    if baseline is not None:
        write_results_page(
            out_dir, result, baseline, reference, cfg.paths.data_dir, upscale, degrade, PAPER_NAMES
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
