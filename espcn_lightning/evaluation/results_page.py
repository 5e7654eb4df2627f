"""results.html: Table 1 beside the paper's values, and every test image to compare by eye.

``evaluate`` writes it into its run dir beside table1.md. Per image: a before/after slider in colour
(bicubic against the model, or the model against HR), a 4x zoom of a clicked region, its PSNR/SSIM
and gain over bicubic; the images can be sorted by that gain. Plain HTML, CSS and a little
JavaScript, data embedded, pictures in ``results/`` beside it: it opens offline, from a file, on a
phone. Written by hand because no library in the stack makes such a page without a build step.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from espcn_lightning.core.colour import round_half_up, upscale_rgb
from espcn_lightning.core.degradations import Upscaler, bicubic_upscaler, modcrop
from espcn_lightning.evaluation.page import INTRO, SCRIPT, VIEWER, page_html

#: Folder beside results.html holding its pictures.
IMAGE_DIR = "results"
#: Longest side of the grid's thumbnails, in pixels.
THUMB_SIZE = 200


class ColourViews(NamedTuple):
    """One test image in colour: HR cropped to the scale, its LR, and both upscales of that LR."""

    lr: np.ndarray
    bicubic: np.ndarray
    model: np.ndarray
    hr: np.ndarray


def colour_views(
    image: np.ndarray, upscale: Upscaler, degrade: Callable, scale: int
) -> ColourViews:
    """Degrade a uint8 RGB or grey image channel by channel, then upscale it bicubic and by model.

    The model upscales Y and Cb/Cr go bicubic, as ``upscale`` does for users; the protocol's scores
    are on Y, so a picture is what a user gets and the numbers are the protocol's.
    """
    planes = torch.from_numpy(image if image.ndim == 3 else image[..., None]).permute(2, 0, 1)
    hr = modcrop(planes, scale)
    lr = round_half_up(degrade(hr.to(torch.float64) / 255.0).clamp(0, 1) * 255).to(torch.uint8)
    hr_image, lr_image = _channels_last(hr), _channels_last(lr)
    return ColourViews(
        lr_image,
        upscale_rgb(lr_image, bicubic_upscaler(scale), scale),
        upscale_rgb(lr_image, upscale, scale),
        hr_image,
    )


def _channels_last(planes: torch.Tensor) -> np.ndarray:
    """(C, H, W) uint8 planes as an (H, W, 3) or, for one plane, (H, W) array."""
    array = planes.permute(1, 2, 0).numpy()
    return array[..., 0] if array.shape[-1] == 1 else np.ascontiguousarray(array)


def write_views(
    out_dir: Path, dataset: str, stem: str, views: ColourViews
) -> tuple[dict[str, str], tuple[int, int]]:
    """Save bicubic, model and HR as lossless WebP (exact pixels, a third smaller than PNG) and
    a JPEG thumbnail of HR under ``out_dir``; return their page-relative paths, the thumb's size."""
    folder = out_dir / IMAGE_DIR / dataset
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in ("bicubic", "model", "hr"):
        path = folder / f"{stem}_{name}.webp"
        Image.fromarray(getattr(views, name)).save(path, "WEBP", lossless=True, quality=0, method=0)
        files[name] = path
    thumb = Image.fromarray(views.hr)
    thumb.thumbnail((THUMB_SIZE, THUMB_SIZE))
    files["thumb"] = folder / f"{stem}_thumb.jpg"
    thumb.convert("RGB").save(files["thumb"], "JPEG", quality=80)
    return {name: path.relative_to(out_dir).as_posix() for name, path in files.items()}, thumb.size


def image_rows(result: dict, baseline: dict) -> list[dict]:
    """Each image's scores beside bicubic's on the same image, with the gain in dB."""
    bicubic = {(r["dataset"], r["image"]): r for r in baseline["images"]}
    rows = []
    for record in result["images"]:
        base = bicubic[(record["dataset"], record["image"])]
        rows.append(
            {
                **record,
                "bicubic_psnr": base["psnr"],
                "bicubic_ssim": base["ssim"],
                "gain": record["psnr"] - base["psnr"],
            }
        )
    return rows


def table_rows(result: dict, baseline: dict, paper: dict[str, dict[str, float]]) -> list[dict]:
    """Table 1's rows: per dataset and the image-weighted average, ours, bicubic's and the
    paper's columns (the paper's average weighted by our image counts, where it has every set)."""
    rows = []
    for name, row in result["datasets"].items():
        base = baseline["datasets"][name]
        rows.append(
            {
                "dataset": name,
                **row,
                "bicubic_psnr": base["psnr"],
                "bicubic_ssim": base["ssim"],
                "paper": {label: values.get(name) for label, values in paper.items()},
            }
        )
    average, total = result["average"], result["average"]["images"]

    def weighted(values: dict[str, float]) -> float | None:
        if any(r["dataset"] not in values for r in rows):
            return None
        return sum(values[r["dataset"]] * r["images"] for r in rows) / total

    rows.append(
        {
            "dataset": "Average",
            **average,
            "bicubic_psnr": baseline["average"]["psnr"],
            "bicubic_ssim": baseline["average"]["ssim"],
            "paper": {label: weighted(values) for label, values in paper.items()},
        }
    )
    return rows


def _cell(value: float | None, digits: int, field: str, dataset: str, sign: bool = False) -> str:
    """One numeric table cell, addressable by its dataset and field."""
    text = "-" if value is None else f"{value:{'+' if sign else ''}.{digits}f}"
    return f'<td data-dataset="{html.escape(dataset)}" data-field="{field}">{text}</td>'


def table_html(rows: list[dict], dataset_labels: dict[str, str]) -> str:
    """Table 1 as an HTML table: ours, bicubic (ours), the gain, and the paper's columns."""
    paper_labels = list(rows[0]["paper"]) if rows else []
    head = "".join(
        f"<th>{html.escape(h)}</th>"
        for h in [
            "Dataset",
            "Images",
            "PSNR (dB)",
            "SSIM",
            "Bicubic PSNR",
            "Bicubic SSIM",
            "Gain (dB)",
            *paper_labels,
        ]
    )
    body = []
    for row in rows:
        name = row["dataset"]
        cells = [
            f"<th scope=row>{html.escape(dataset_labels.get(name, name))}</th>",
            f'<td data-dataset="{html.escape(name)}" data-field="images">{row["images"]}</td>',
            _cell(row["psnr"], 2, "psnr", name),
            _cell(row["ssim"], 4, "ssim", name),
            _cell(row["bicubic_psnr"], 2, "bicubic_psnr", name),
            _cell(row["bicubic_ssim"], 4, "bicubic_ssim", name),
            _cell(row["psnr"] - row["bicubic_psnr"], 2, "gain", name, sign=True),
            *(_cell(row["paper"][label], 2, f"paper:{label}", name) for label in paper_labels),
        ]
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<div class="scroll"><table id="table1"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def card_html(index: int, row: dict) -> str:
    """One thumbnail of the grid; its data attributes are what the page sorts and filters by."""
    name = html.escape(Path(row["image"]).stem)
    dataset = html.escape(row["dataset"])
    return (
        f'<button class="card" data-index="{index}" data-dataset="{dataset}" '
        f'data-name="{dataset}/{name}" data-gain="{row["gain"]:.6f}" data-psnr="{row["psnr"]:.6f}">'
        f'<img src="{html.escape(row["files"]["thumb"])}" alt="{name}" loading="lazy" '
        f'width="{row["thumb_size"][0]}" height="{row["thumb_size"][1]}">'
        f'<span class="name">{dataset} / {name}</span>'
        f'<span class="score"><span data-field="psnr">{row["psnr"]:.2f}</span> dB, gain '
        f'<span data-field="gain">{row["gain"]:+.2f}</span></span></button>'
    )


class Pictures:
    """The results page's pictures, made as ``evaluate`` visits each scored image (so no image is
    read or upscaled again for the page): bicubic, model and HR in colour, and a thumbnail."""

    def __init__(self, out_dir: Path, upscale: Upscaler, degrade: Callable, scale: int) -> None:
        self.out_dir, self.upscale, self.degrade, self.scale = out_dir, upscale, degrade, scale
        self.files: dict[tuple[str, str], dict] = {}

    def add(self, dataset: str, path: Path, image: np.ndarray) -> ColourViews:
        """Write one image's pictures; returns its views (for figures of the same image)."""
        views = colour_views(image, self.upscale, self.degrade, self.scale)
        files, thumb_size = write_views(self.out_dir, dataset, path.stem, views)
        size = [views.hr.shape[1], views.hr.shape[0]]
        self.files[dataset, path.name] = {"files": files, "thumb_size": thumb_size, "size": size}
        return views


def write_results_page(
    out_dir: Path,
    result: dict,
    baseline: dict,
    paper: dict[str, dict[str, float]],
    pictures: Pictures,
    dataset_labels: dict[str, str] | None = None,
) -> Path:
    """Write results.html for ``result`` (table1.json's shape, per-image records included)
    against the bicubic ``baseline`` of the same images, with the ``pictures`` made while they
    were scored; returns the page's path."""
    scale, labels = result["scale"], dataset_labels or {}
    rows = [
        row | pictures.files[row["dataset"], row["image"]] for row in image_rows(result, baseline)
    ]
    title = f"ESPCN x{scale}: {result['model']}"
    body = "".join(
        [
            f"<header><h1>{html.escape(title)}</h1>{INTRO}</header>",
            "<main><h2>Table 1</h2>",
            table_html(table_rows(result, baseline, paper), labels),
            "<h2>Images</h2>",
            _controls(sorted({row["dataset"] for row in rows}, key=list(result["datasets"]).index)),
            f'<div id="grid">{"".join(card_html(i, row) for i, row in enumerate(rows))}</div>',
            "</main>",
            VIEWER,
            _data_script({"scale": scale, "images": rows}),
        ]
    )
    path = out_dir / "results.html"
    path.write_text(page_html(title, body, SCRIPT))
    return path


def _controls(datasets: Sequence[str]) -> str:
    """The sort and dataset-filter selects above the grid."""
    options = "".join(f"<option>{html.escape(name)}</option>" for name in datasets)
    return (
        '<div class="controls"><label>Sort <select id="sort">'
        '<option value="gain-desc">gain over bicubic, largest first</option>'
        '<option value="gain-asc">gain over bicubic, smallest first</option>'
        '<option value="psnr-desc">PSNR, highest first</option>'
        '<option value="name">dataset and name</option></select></label>'
        f'<label>Dataset <select id="filter"><option value="">all</option>{options}</select>'
        "</label></div>"
    )


def _data_script(data: dict) -> str:
    """The page's data as inline JSON (``</`` escaped so no value can end the script element)."""
    text = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return f'<script id="data" type="application/json">{text}</script>'
