"""In a real browser (headless Chromium): results.html of a smoke model, and TensorBoard's
dashboards of a smoke run, looked at the way a user looks at them.

They skip, saying what to install, where Playwright or Chromium is missing; ESPCN_REQUIRE_BROWSER=1
(set by .ci/run) makes that a failure instead.
"""

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from espcn_lightning.core.degradations import Bicubic, bicubic_upscaler
from espcn_lightning.evaluation.protocol import evaluate
from scripts.browser import tensorboard

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
#: Labels and the divider sit over these margins of the slider's pictures.
TOP, SIDE = 30, 3


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir):
    """runs/smoke: a smoke training run; runs/no_data: one that failed before training."""
    root = tmp_path_factory.mktemp("browser") / "runs"
    common = ["experiment=smoke", "report_sets=[]", "trainer.enable_progress_bar=false"]
    trained = run(
        "espcn_lightning.train",
        *common,
        f"hydra.run.dir={root / 'smoke'}",
        f"paths.data_dir={data_dir}",
    )
    assert trained.returncode == 0, trained.stderr[-2000:]
    failed = run(
        "espcn_lightning.train",
        *common,
        f"hydra.run.dir={root / 'no_data'}",
        f"paths.data_dir={root / 'nowhere'}",
    )
    assert failed.returncode == 1, failed.stderr[-2000:]
    return root


@pytest.fixture(scope="module")
def results(runs, data_dir):
    """The run dir of ``evaluate`` for the smoke model on Set5."""
    out = runs.parent / "evaluate"
    evaluated = run(
        "espcn_lightning.evaluate",
        f"checkpoint={runs / 'smoke' / 'model.pt'}",
        "datasets=[Set5]",
        "figures=[]",
        f"paths.data_dir={data_dir}",
        f"hydra.run.dir={out}",
    )
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    return out


def watch(page):
    """Collect the page's console errors, uncaught exceptions and requests off this machine."""
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "request",
        lambda r: None if r.url.startswith(("file:", "data:")) else problems.append(r.url),
    )
    return problems


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def picture(results, relative) -> np.ndarray:
    return np.asarray(Image.open(results / relative).convert("RGB")).astype(int)


def shows(shot: np.ndarray, expected: np.ndarray, columns: slice) -> bool:
    """Whether a screenshot of the slider shows ``expected`` in ``columns`` (labels left out)."""
    height, width = expected.shape[:2]
    region = (slice(TOP, height), columns)
    return np.abs(shot[:height, :width][region] - expected[region]).max() <= 2


def test_the_results_page_slider_reveals_the_other_image_and_its_numbers_are_table1s(
    browser, results, data_dir
):
    table = json.loads((results / "table1.json").read_text())
    bicubic = evaluate(bicubic_upscaler(3), Bicubic(3), 3, data_dir, ["Set5"])
    page = browser.new_page()
    page.set_viewport_size({"width": 1280, "height": 1000})
    problems = watch(page)
    page.goto((results / "results.html").as_uri())

    for name, row in [*table["datasets"].items(), ("Average", table["average"])]:
        cells = page.locator(f'#table1 [data-dataset="{name}"]')
        assert cells.and_(page.locator('[data-field="psnr"]')).inner_text() == f"{row['psnr']:.2f}"
        assert cells.and_(page.locator('[data-field="ssim"]')).inner_text() == f"{row['ssim']:.4f}"
        assert cells.and_(page.locator('[data-field="images"]')).inner_text() == str(row["images"])
    gains = {}
    for ours, base in zip(table["images"], bicubic["images"], strict=True):
        name = f"Set5/{ours['image'].rsplit('.', 1)[0]}"
        card = page.locator(f'.card[data-name="{name}"]')
        assert card.locator('[data-field="psnr"]').inner_text() == f"{ours['psnr']:.2f}"
        gains[name] = ours["psnr"] - base["psnr"]
        assert card.locator('[data-field="gain"]').inner_text() == f"{gains[name]:+.2f}"
    order = "cards => cards.map(c => c.dataset.name)"
    assert page.locator(".card").evaluate_all(order) == sorted(gains, key=gains.get, reverse=True)
    page.select_option("#sort", "gain-asc")
    assert page.locator(".card").evaluate_all(order) == sorted(gains, key=gains.get)

    page.locator(".card").first.click()
    loaded = "id => { const i = document.getElementById(id); return i.complete && i.naturalWidth }"
    for side in ("v-left", "v-right"):
        page.wait_for_function(loaded, arg=side)
    first = page.locator(".card").first.get_attribute("data-index")
    files = json.loads(page.locator("#data").inner_text())["images"][int(first)]["files"]
    left, right = picture(results, files["bicubic"]), picture(results, files["model"])
    assert np.abs(left - right).mean() > 1, "bicubic and the model should look different"
    compare = page.locator("#compare")
    half = left.shape[1] // 2
    middle = pixels(compare.screenshot())
    assert shows(middle, left, slice(SIDE, half - SIDE))
    assert shows(middle, right, slice(half + SIDE, -SIDE))
    page.locator("#split").focus()
    page.keyboard.press("End")
    assert shows(pixels(compare.screenshot()), left, slice(SIDE, -SIDE))
    page.keyboard.press("Home")
    assert shows(pixels(compare.screenshot()), right, slice(SIDE, -SIDE))
    page.get_by_label("model | HR").check()
    page.wait_for_function(loaded, arg="v-right")
    assert shows(pixels(compare.screenshot()), picture(results, files["hr"]), slice(SIDE, -SIDE))

    compare.click(position={"x": 60, "y": 60})
    assert page.locator("#zoom").is_visible()
    assert files["model"] in page.locator("#z-left").evaluate("e => e.style.backgroundImage")
    assert problems == []


def test_tensorboard_shows_losses_psnr_learning_rate_images_and_only_trained_runs_in_hparams(
    browser, runs
):
    best = json.loads((runs / "smoke" / "summary.json").read_text())["best_val_psnr"]
    with tensorboard(runs) as url:
        page = browser.new_page()
        page.set_viewport_size({"width": 1400, "height": 1000})
        page.goto(f"{url}/#timeseries")
        tags = ["train/loss", "val/loss", "val/psnr", "val/bicubic_psnr", "lr-Adam"]
        page.get_by_role("combobox", name="Filter tags (regex)").fill(f"^({'|'.join(tags)})$")
        for tag in tags:
            page.locator(f'scalar-card-component tb-truncated-path[title="{tag}"]').wait_for()

        page.goto(f"{url}/#custom_scalars")
        for title in ("train and validation", "ESPCN and bicubic, same patches", "learning rate"):
            expect(page.get_by_text(title)).to_have_count(1)
        expect(page.get_by_text("Matches (2)")).to_have_count(2)
        expect(page.get_by_text("Matches (1)")).to_have_count(1)

        page.goto(f"{url}/#images")
        page.get_by_text("val/bicubic_espcn_hr").first.wait_for()
        panel = page.locator("tf-image-loader img").first
        page.wait_for_function("i => i.complete && i.naturalWidth", arg=panel.element_handle())
        assert panel.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [3 * 51, 4 * 51]

        page.goto(f"{url}/#hparams")
        cells = page.locator("vaadin-grid-cell-content")
        # the run is listed by what it trains (its overrides), not as "smoke/tensorboard"
        named = re.compile(r"^smoke/tensorboard/.*experiment=smoke")
        expect(cells.get_by_text(named)).to_have_count(1)
        expect(cells.get_by_text(f"{best:.3f}", exact=True)).to_have_count(1)
        texts = [t.strip() for t in cells.all_inner_texts() if t.strip()]
        assert texts[:3] == ["Trial ID", "Show Metrics", "experiment"]
        assert "best val PSNR" in texts and not [t for t in texts if "no_data" in t]


def test_the_study_page_lists_every_trial_pruned_ones_as_pruned_and_draws_optunas_figures(
    browser, tmp_path
):
    """A study told by hand (no training): two completed trials and one pruned after epoch 1."""
    from optuna.trial import TrialState

    from espcn_lightning.training.search_space import parse
    from espcn_lightning.training.study import open_study

    space, _ = parse({"optim.optimizer.lr": "tag(log, interval(1e-5, 1e-2))"}, [])
    settings = {"study_name": "page", "storage": "journal", "direction": "maximize"}
    study = open_study(tmp_path, settings, space)
    curves = {1e-3: [24.0, 26.0, 27.0], 3e-3: [25.0, 27.5, 28.0], 1e-5: [12.0, 12.1]}
    for lr, curve in curves.items():
        study.enqueue_trial({"optim.optimizer.lr": lr})
        trial = study.ask(space)
        for epoch, value in enumerate(curve):
            trial.report(value, epoch)
        if len(curve) < 3:
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, max(curve))
    result = run("espcn_lightning.report", str(tmp_path))
    assert result.returncode == 0, result.stderr
    page = browser.new_page()
    page.goto((tmp_path / "study.html").as_uri())
    rows = page.locator("#trials tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("28.000")
    expect(rows.nth(2)).to_contain_text("pruned")
    for title in ("Optimisation history", "Parameter importances", "Validation PSNR by epoch"):
        expect(page.get_by_role("heading", name=title)).to_be_visible()
    widths = page.eval_on_selector_all("img.figure", "imgs => imgs.map(i => i.naturalWidth)")
    assert len(widths) == 3 and min(widths) > 300  # every figure loaded
    page.close()
