"""The README's screenshots: results.html and TensorBoard's scalars, images and HParams views.

``make screenshots`` (``python -m scripts.screenshots [--out docs/images] [--logdir DIR]``) trains a
small smoke sweep (two learning rates x two seeds, seconds a job) for TensorBoard, or shows DIR's
runs instead, evaluates the shipped model on Set5 and Set14 for the results page, and saves the
views as PNGs. Its runs go to a new folder under outputs/screenshots/; nothing is overwritten but
the five PNGs it names in --out.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from scripts.browser import browser_missing, chromium, tensorboard

ROOT = Path(__file__).resolve().parents[1]
VIEWPORT = {"width": 1280, "height": 800}


def run(*args: str) -> None:
    """Run a project command; stop with its error output if it fails."""
    result = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"failed: {' '.join(args)}\n{result.stderr[-3000:]}")


def smoke_sweep(sweep: Path) -> None:
    """Four smoke runs, two learning rates by two seeds, for the TensorBoard views."""
    run(
        "espcn_lightning.train",
        "-m",
        "experiment=smoke",
        "trainer.max_epochs=12",
        "image_every_n_epochs=4",
        "optim.optimizer.lr=0.001,0.003",
        "seed=1,2",
        "report_sets=[]",
        "export_weights=false",
        "trainer.enable_progress_bar=false",
        f"hydra.sweep.dir={sweep}",
    )


def evaluate_shipped(evaluation: Path) -> None:
    """The shipped model on Set5 and Set14, for the results page."""
    run(
        "espcn_lightning.evaluate",
        "checkpoint=espcn_x3_relu_t91",
        "datasets=[Set5,Set14]",
        "figures=[]",
        f"hydra.run.dir={evaluation}",
    )


def shoot_results(browser, page_path: Path, out: Path) -> None:
    """The page's top (Table 1 and the grid) and the viewer with a zoomed region."""
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(page_path.as_uri())
    page.screenshot(path=out / "results_page.png")
    page.locator('.card[data-name="Set14/zebra"]').click()
    for side in ("v-left", "v-right"):
        page.wait_for_function(
            "id => { const i = document.getElementById(id); return i.complete && i.naturalWidth }",
            arg=side,
        )
    page.locator("#compare").click(position={"x": 330, "y": 110})
    page.wait_for_timeout(300)
    page.locator("#viewer").screenshot(path=out / "results_viewer.png")


#: Rewrites every text on the page that names this machine's log folder, before a screenshot.
HIDE_PATH = """folder => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.nodeValue.includes(folder)) {
      node.nodeValue = node.nodeValue.split(folder).join("outputs");
    }
  }
}"""


def shoot(page, path: Path, logdir: Path) -> None:
    """A screenshot in which TensorBoard's "data location" shows no path of this machine."""
    page.evaluate(HIDE_PATH, str(logdir.resolve().parent))
    page.screenshot(path=path)


def shoot_tensorboard(browser, logdir: Path, out: Path) -> None:
    """Custom Scalars, Images and HParams, each once its content has loaded."""
    with tensorboard(logdir) as url:
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"{url}/#custom_scalars")
        page.get_by_text("learning rate").first.wait_for()
        page.wait_for_timeout(2000)
        shoot(page, out / "tensorboard_scalars.png", logdir)
        page.goto(f"{url}/#images")
        image = page.locator("tf-image-loader img").first
        image.wait_for()
        page.wait_for_function("i => i.complete && i.naturalWidth", arg=image.element_handle())
        page.wait_for_timeout(500)
        shoot(page, out / "tensorboard_images.png", logdir)
        page.set_viewport_size({"width": 1500, "height": 560})
        page.goto(f"{url}/#hparams")
        page.get_by_text("best val PSNR").first.wait_for()
        page.wait_for_timeout(1000)
        shoot(page, out / "tensorboard_hparams.png", logdir)


def main(argv: list[str] | None = None) -> int:
    """Make the runs, then the five screenshots."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    parser.add_argument("--logdir", type=Path, help="runs to show in TensorBoard (default: smoke)")
    args = parser.parse_args(argv)
    reason = browser_missing()
    if args.logdir is not None and not args.logdir.is_dir():
        reason = f"--logdir {args.logdir} is not a folder; give a run or sweep dir"
    if reason:
        print(f"error: {reason}", file=sys.stderr)
        return 1
    work = ROOT / "outputs" / "screenshots" / time.strftime("%Y-%m-%d_%H-%M-%S")
    logdir = args.logdir or work / "sweep"
    if args.logdir is None:
        smoke_sweep(logdir)
    evaluate_shipped(work / "evaluate")
    args.out.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        shoot_results(browser, work / "evaluate" / "results.html", args.out)
        shoot_tensorboard(browser, logdir, args.out)
    print(f"screenshots in {args.out}; runs in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
