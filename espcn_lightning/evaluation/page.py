"""The HTML this project's pages share (style, the page shell) and the results page's parts (its
introduction, image viewer and script): plain HTML, CSS and JavaScript, held apart from the code
that fills them in."""

from __future__ import annotations

import html


def page_html(title: str, body: str, script: str = "") -> str:
    """A complete page: the shared style, ``body``, and an optional inline script."""
    tail = f"<script>{script}</script>" if script else ""
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>{body}{tail}</body></html>\n"
    )


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
