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
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

from espcn_lightning.colour import upscale_rgb
from espcn_lightning.data import dataset_files
from espcn_lightning.degradations import modcrop
from espcn_lightning.engines import Upscaler, bicubic_upscaler
from espcn_lightning.images import read_image

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
    lr = (degrade(hr.to(torch.float64) / 255.0).clamp(0, 1) * 255).round().to(torch.uint8)
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


def page_html(title: str, body: str, script: str = "") -> str:
    """A complete page: the shared style, ``body``, and an optional inline script."""
    tail = f"<script>{script}</script>" if script else ""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}{tail}</body></html>\n"
    )


def write_results_page(
    out_dir: Path,
    result: dict,
    baseline: dict,
    paper: dict[str, dict[str, float]],
    data_dir: str | Path,
    upscale: Upscaler,
    degrade: Callable,
    dataset_labels: dict[str, str] | None = None,
) -> Path:
    """Write results.html and its pictures for ``result`` (table1.json's shape, per-image records
    included) against the bicubic ``baseline`` of the same images; returns the page's path."""
    scale, labels = result["scale"], dataset_labels or {}
    rows = image_rows(result, baseline)
    paths = _image_paths(data_dir, {row["dataset"] for row in rows})
    for row in rows:
        views = colour_views(
            read_image(paths[row["dataset"], row["image"]]), upscale, degrade, scale
        )
        stem = Path(row["image"]).stem
        row["files"], row["thumb_size"] = write_views(out_dir, row["dataset"], stem, views)
        row["size"] = [views.hr.shape[1], views.hr.shape[0]]
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


def _image_paths(data_dir: str | Path, datasets: Iterable[str]) -> dict[tuple[str, str], Path]:
    """Each (dataset, file name) of the given datasets mapped to its path."""
    return {(name, p.name): p for name in datasets for p in dataset_files(data_dir, name)}


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


INTRO = (
    "<p>PSNR and SSIM are the protocol's: on Y, quantised to 8 bits, the border shaved. "
    "The pictures are in colour: the LR image made from the RGB one, Y upscaled by the model, "
    "Cb and Cr bicubic, as <code>upscale</code> does. Open an image to compare it with a "
    "slider; click or tap the picture to zoom a region 4x.</p>"
)

VIEWER = """
<dialog id="viewer" aria-label="image comparison">
<div class="bar"><strong id="v-title"></strong>
<span class="nav"><button id="v-prev" aria-label="previous image">&larr;</button>
<button id="v-next" aria-label="next image">&rarr;</button>
<button id="v-close" aria-label="close">&times;</button></span></div>
<p id="v-scores"></p>
<div class="pairs" role="radiogroup">
<label><input type="radio" name="pair" value="bicubic,model" checked> bicubic | model</label>
<label><input type="radio" name="pair" value="model,hr"> model | HR</label></div>
<div class="views"><div class="stage"><div id="compare"><img id="v-right" alt="">
<img id="v-left" alt=""><div id="divider"></div><div id="marker" hidden></div>
<span class="tag" id="t-left"></span><span class="tag" id="t-right"></span></div>
<input id="split" type="range" min="0" max="100" step="0.5" value="50"
 aria-label="slider: left picture shown up to here"></div>
<div id="zoom" hidden><figure><div class="zoombox" id="z-left"></div>
<figcaption id="zc-left"></figcaption></figure><figure><div class="zoombox" id="z-right"></div>
<figcaption id="zc-right"></figcaption></figure></div></div>
</dialog>
"""

STYLE = """
*{box-sizing:border-box}[hidden]{display:none!important}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;
background:#f6f6f4}
header,main{max-width:1100px;margin:0 auto;padding:0 14px}
h1{font-size:1.4em;margin:18px 0 6px}h2{font-size:1.15em;margin:22px 0 8px}
code{background:#e9e9e5;padding:0 3px;border-radius:3px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;background:#fff;font-variant-numeric:tabular-nums}
th,td{padding:5px 9px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}
th:first-child,td:first-child,thead th{text-align:left}
thead th{font-weight:600;border-bottom:2px solid #999}
#table1 tbody tr:last-child{font-weight:600}
.controls{display:flex;flex-wrap:wrap;gap:8px 18px;margin:6px 0 12px}
select{font:inherit;padding:3px}
#grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px;
padding-bottom:30px}
.card{display:flex;flex-direction:column;gap:3px;padding:6px;border:1px solid #ccc;
border-radius:6px;background:#fff;font:inherit;text-align:left;cursor:pointer}
.card:hover,.card:focus{border-color:#0a66c2;outline:none}
.card img{width:100%;height:auto;aspect-ratio:auto;background:#ddd}
.card .name{font-size:.85em;overflow-wrap:anywhere}.card .score{font-size:.9em;font-weight:600}
dialog{width:min(100vw,1200px);max-width:100vw;max-height:100vh;padding:10px 12px;border:0;
background:#1e1e1e;color:#eee}
dialog::backdrop{background:rgba(0,0,0,.6)}
.bar{display:flex;justify-content:space-between;align-items:center;gap:8px}
.nav button{font:inherit;font-size:1.2em;min-width:44px;min-height:40px;margin-left:4px}
#v-scores{margin:6px 0}
.pairs{display:flex;gap:16px;flex-wrap:wrap;margin-bottom:8px}
.views{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
.stage{max-width:100%}
#compare{position:relative;max-width:100%;line-height:0;cursor:crosshair;touch-action:manipulation}
#compare img{display:block;max-width:100%;height:auto}
#v-left{position:absolute;left:0;top:0;width:100%;height:100%;
clip-path:inset(0 calc(100% - var(--split,50%)) 0 0)}
#divider{position:absolute;top:0;bottom:0;left:var(--split,50%);width:2px;margin-left:-1px;
background:#ffcc00;pointer-events:none}
#marker{position:absolute;border:2px solid #ffcc00;pointer-events:none}
.tag{position:absolute;top:6px;padding:2px 6px;font-size:12px;line-height:1.3;
background:rgba(0,0,0,.6);color:#fff;pointer-events:none}
#t-left{left:6px}#t-right{right:6px}
#split{display:block;width:100%;margin:8px 0}
#zoom{display:flex;gap:10px}#zoom figure{margin:0}
.zoombox{width:min(192px,44vw);height:min(192px,44vw);image-rendering:pixelated;background-repeat:no-repeat;
border:1px solid #555}
figcaption{font-size:.85em;margin-top:2px}
img.figure{max-width:100%;height:auto}
"""

SCRIPT = r"""
(() => {
  const data = JSON.parse(document.getElementById("data").textContent);
  const label = {bicubic: "bicubic", model: "model", hr: "HR"};
  const ZOOM = 4, REGION = 48;
  const grid = document.getElementById("grid"), viewer = document.getElementById("viewer");
  const compare = document.getElementById("compare"), split = document.getElementById("split");
  const left = document.getElementById("v-left"), right = document.getElementById("v-right");
  let current = 0, region = null;

  function cards() { return Array.from(grid.querySelectorAll(".card")); }
  function visible() { return cards().filter((c) => !c.hidden); }

  function arrange() {
    const how = document.getElementById("sort").value;
    const only = document.getElementById("filter").value;
    const key = {
      "gain-desc": (c) => -parseFloat(c.dataset.gain),
      "gain-asc": (c) => parseFloat(c.dataset.gain),
      "psnr-desc": (c) => -parseFloat(c.dataset.psnr),
      "name": (c) => parseInt(c.dataset.index, 10),
    }[how];
    cards().sort((a, b) => key(a) - key(b)).forEach((c) => {
      c.hidden = only !== "" && c.dataset.dataset !== only;
      grid.appendChild(c);
    });
  }

  function pair() {
    return document.querySelector("input[name=pair]:checked").value.split(",");
  }

  function setSplit() { compare.style.setProperty("--split", split.value + "%"); }

  function show(index) {
    current = index;
    const row = data.images[index], [a, b] = pair();
    left.src = row.files[a];
    right.src = row.files[b];
    right.width = row.size[0];
    right.height = row.size[1];
    document.getElementById("t-left").textContent = label[a];
    document.getElementById("t-right").textContent = label[b];
    document.getElementById("v-title").textContent =
      row.dataset + " / " + row.image.replace(/\.[^.]+$/, "");
    document.getElementById("v-scores").textContent =
      "model " + row.psnr.toFixed(2) + " dB, SSIM " + row.ssim.toFixed(4) +
      " \u00b7 bicubic " + row.bicubic_psnr.toFixed(2) + " dB, SSIM " +
      row.bicubic_ssim.toFixed(4) + " \u00b7 gain " + (row.gain >= 0 ? "+" : "") +
      row.gain.toFixed(2) + " dB";
    drawZoom();
  }

  function drawZoom() {
    const zoom = document.getElementById("zoom"), marker = document.getElementById("marker");
    zoom.hidden = marker.hidden = region === null;
    if (region === null) return;
    const row = data.images[current], [a, b] = pair(), [w, h] = row.size;
    const x = Math.max(0, Math.min(w - REGION, region[0] - REGION / 2));
    const y = Math.max(0, Math.min(h - REGION, region[1] - REGION / 2));
    [["z-left", a], ["z-right", b]].forEach(([id, which]) => {
      const box = document.getElementById(id);
      box.style.backgroundImage = "url('" + row.files[which] + "')";
      box.style.backgroundSize = w * ZOOM + "px " + h * ZOOM + "px";
      box.style.backgroundPosition = -x * ZOOM + "px " + -y * ZOOM + "px";
    });
    document.getElementById("zc-left").textContent = label[a] + ", 4x";
    document.getElementById("zc-right").textContent = label[b] + ", 4x";
    Object.assign(marker.style, {
      left: (100 * x) / w + "%", top: (100 * y) / h + "%",
      width: (100 * REGION) / w + "%", height: (100 * REGION) / h + "%",
    });
  }

  function step(delta) {
    const order = visible().map((c) => parseInt(c.dataset.index, 10));
    const at = order.indexOf(current);
    if (order.length) show(order[(at + delta + order.length) % order.length]);
  }

  grid.addEventListener("click", (event) => {
    const card = event.target.closest(".card");
    if (!card) return;
    region = null;
    show(parseInt(card.dataset.index, 10));
    viewer.showModal();
  });
  compare.addEventListener("click", (event) => {
    const box = right.getBoundingClientRect(), [w, h] = data.images[current].size;
    region = [((event.clientX - box.left) / box.width) * w,
      ((event.clientY - box.top) / box.height) * h];
    drawZoom();
  });
  split.addEventListener("input", setSplit);
  document.querySelectorAll("input[name=pair]").forEach((r) =>
    r.addEventListener("change", () => show(current)));
  document.getElementById("sort").addEventListener("change", arrange);
  document.getElementById("filter").addEventListener("change", arrange);
  document.getElementById("v-prev").addEventListener("click", () => step(-1));
  document.getElementById("v-next").addEventListener("click", () => step(1));
  document.getElementById("v-close").addEventListener("click", () => viewer.close());
  viewer.addEventListener("keydown", (event) => {
    if (event.key === "ArrowLeft" && event.target !== split) step(-1);
    if (event.key === "ArrowRight" && event.target !== split) step(1);
  });
  setSplit();
  arrange();
})();
"""
