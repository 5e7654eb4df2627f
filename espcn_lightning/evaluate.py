"""Evaluate an upscaler on the paper's Table 1 test sets under the field's protocol (Hydra app).

``python -m espcn_lightning.evaluate checkpoint=NAME_OR_PATH`` or ``... upscaler=bicubic`` prints
the table beside the paper's values and writes table1.md, table1.json, results.html and figures
to the run dir, from one pass over the images. The protocol itself is ``evaluation.protocol``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig

from espcn_lightning.core.degradations import bicubic_upscaler
from espcn_lightning.core.errors import DataError, one_line_errors
from espcn_lightning.core.images import read_image, write_image
from espcn_lightning.core.options import check_scale
from espcn_lightning.datasets.catalogue import dataset_files
from espcn_lightning.evaluation import published
from espcn_lightning.evaluation.protocol import evaluate_many
from espcn_lightning.evaluation.published import Scores
from espcn_lightning.evaluation.results_page import (
    ColourViews,
    Pictures,
    colour_views,
    write_results_page,
)
from espcn_lightning.evaluation.upscalers import Candidate

PAPER_NAMES = {"BSD100": "BSD100 (paper: BSD300)", "BSD200": "BSD200 (paper: BSD500)"}


def published_columns(activation: str | None, scale: int) -> dict[str, Scores]:
    """The published columns to print beside ours: bicubic's alone for bicubic (no network, no
    ``activation``), else the ESPCN paper's rows at this scale (its T91 row of the network's
    activation), FSRCNN and SRCNN."""
    found = published.columns(scale, activation)
    if activation is None:
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


def write_figure(path: Path, views: ColourViews, scale: int) -> None:
    """Save LR (nearest) | bicubic | model | HR side by side, in colour."""
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


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    """Evaluate; a missing dataset or unloadable checkpoint ends in a one-line error."""
    one_line_errors(run, exit=True)(cfg)


def run(cfg: DictConfig) -> None:
    """Evaluate, print Table 1, write table1.md / table1.json, the results page and figures."""
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    check_scale(cfg.scale)
    candidate: Candidate = instantiate(cfg.upscaler)
    page = cfg.results_page and candidate.is_network
    figures = (
        set(figure_files(cfg.paths.data_dir, list(cfg.figures))) if candidate.is_network else set()
    )
    degrade = instantiate(cfg.degradation)
    pictures = Pictures(out_dir, candidate.upscale, degrade, cfg.scale)

    drawn: set[Path] = set()

    def visit(dataset: str, path: Path, image: np.ndarray) -> None:
        if page:
            views = pictures.add(dataset, path, image)
        elif path in figures:
            views = colour_views(image, candidate.upscale, degrade, cfg.scale)
        else:
            return
        drawn.add(path)
        if path in figures and image.ndim == 3:
            write_figure(out_dir / f"{path.stem}_x{cfg.scale}.png", views, cfg.scale)

    upscalers = {"model": candidate.upscale}
    if page:
        upscalers["bicubic"] = bicubic_upscaler(cfg.scale)
    scored = evaluate_many(
        upscalers, degrade, cfg.scale, cfg.paths.data_dir, list(cfg.datasets), visit
    )
    for path in sorted(figures - drawn):  # figures of images outside the scored sets
        visit(path.parent.name, path, read_image(path))
    result = {"scale": cfg.scale, "model": candidate.label, **scored["model"]}
    reference = published_columns(candidate.activation, cfg.scale)
    baseline = scored.get("bicubic")
    table = markdown_table(result, reference, baseline)
    (out_dir / "table1.md").write_text(table)
    (out_dir / "table1.json").write_text(json.dumps(result, indent=2) + "\n")
    if baseline is not None:
        write_results_page(out_dir, result, baseline, reference, pictures, PAPER_NAMES)
    print(table)
    print(f"written to {out_dir}")


if __name__ == "__main__":
    main()
