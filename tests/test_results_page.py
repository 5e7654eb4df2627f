"""results.html and report.html: what the pages hold, checked on synthetic images (no browser)."""

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from espcn_lightning.core.degradations import Bicubic, bicubic_upscaler
from espcn_lightning.evaluation.protocol import evaluate, evaluate_many
from espcn_lightning.evaluation.results_page import (
    Pictures,
    colour_views,
    table_rows,
    write_results_page,
)


def sharpened(scale):
    """A stand-in 'model' that differs from bicubic: bicubic, then a mild unsharp mask."""
    bicubic = bicubic_upscaler(scale)

    def run(lr):
        up = bicubic(lr)
        blur = torch.nn.functional.avg_pool2d(up, 3, stride=1, padding=1, count_include_pad=False)
        return up + 0.5 * (up - blur)

    return run


@pytest.fixture
def tiny_set5(tmp_path):
    """A Set5 folder of four random colour images and a grey one, no side a multiple of 3."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "data" / "Set5"
    folder.mkdir(parents=True)
    for name in ("baby", "bird", "butterfly", "head"):  # a Set5 folder holds exactly its names
        Image.fromarray(rng.integers(0, 256, (47, 62, 3), np.uint8)).save(folder / f"{name}.png")
    Image.fromarray(rng.integers(0, 256, (40, 41), np.uint8)).save(folder / "woman.png")
    return tmp_path / "data"


def test_colour_views_crop_hr_to_the_scale_and_upscale_its_lr_both_ways():
    image = np.random.default_rng(1).integers(0, 256, (31, 40, 3), np.uint8)
    views = colour_views(image, bicubic_upscaler(3), Bicubic(3), 3)
    assert views.hr.shape == (30, 39, 3) and views.lr.shape == (10, 13, 3)
    np.testing.assert_array_equal(views.hr, image[:30, :39])
    assert views.bicubic.shape == views.model.shape == views.hr.shape
    np.testing.assert_array_equal(views.bicubic, views.model)


def test_grey_images_get_grey_views():
    image = np.random.default_rng(2).integers(0, 256, (30, 30), np.uint8)
    views = colour_views(image, bicubic_upscaler(3), Bicubic(3), 3)
    assert views.hr.shape == views.model.shape == (30, 30) and views.lr.shape == (10, 10)


def test_the_paper_average_is_weighted_by_images_and_left_out_without_every_set():
    def result(psnr):
        rows = {"Set5": {"psnr": psnr, "ssim": 0.9, "images": 5, "seconds_per_image": 0.0}}
        rows["Set14"] = {"psnr": psnr, "ssim": 0.9, "images": 15, "seconds_per_image": 0.0}
        return {"datasets": rows, "average": {"psnr": psnr, "ssim": 0.9, "images": 20}}

    paper = {"A": {"Set5": 32.0, "Set14": 28.0}, "B": {"Set5": 31.0}}
    rows = table_rows(result(30.0), result(29.0), paper)
    assert [r["dataset"] for r in rows] == ["Set5", "Set14", "Average"]
    assert rows[-1]["paper"]["A"] == pytest.approx((32.0 * 5 + 28.0 * 15) / 20)
    assert rows[-1]["paper"]["B"] is None and rows[1]["paper"]["B"] is None
    assert rows[-1]["bicubic_psnr"] == 29.0


def test_one_pass_scores_each_upscaler_as_it_would_alone_and_visits_each_image_once(tiny_set5):
    model, seen = sharpened(3), []
    upscalers = {"model": model, "bicubic": bicubic_upscaler(3)}
    scored = evaluate_many(
        upscalers, Bicubic(3), 3, tiny_set5, ["Set5"], lambda d, path, image: seen.append(path)
    )
    for label, upscale in upscalers.items():
        alone = evaluate(upscale, Bicubic(3), 3, tiny_set5, ["Set5"])
        assert scored[label]["images"] == alone["images"]
    assert sorted(path.name for path in seen) == sorted(r["image"] for r in alone["images"])


def test_the_results_page_holds_table1_every_image_and_its_gain_over_bicubic(tmp_path, tiny_set5):
    model = sharpened(3)
    pictures = Pictures(tmp_path, model, Bicubic(3), 3)
    upscalers = {"model": model, "bicubic": bicubic_upscaler(3)}
    scored = evaluate_many(upscalers, Bicubic(3), 3, tiny_set5, ["Set5"], pictures.add)
    result, baseline = {"scale": 3, "model": "test", **scored["model"]}, scored["bicubic"]
    paper = {"Paper x": {"Set5": 32.39}}
    page = write_results_page(tmp_path, result, baseline, paper, pictures)
    text = page.read_text()

    def cell(dataset, field):
        match = re.search(rf'data-dataset="{dataset}" data-field="{field}">([^<]*)<', text)
        return match.group(1)

    row = result["datasets"]["Set5"]
    assert cell("Set5", "psnr") == f"{row['psnr']:.2f}"
    assert cell("Set5", "ssim") == f"{row['ssim']:.4f}"
    assert cell("Set5", "images") == "5"
    assert cell("Set5", "bicubic_psnr") == f"{baseline['datasets']['Set5']['psnr']:.2f}"
    assert cell("Average", "paper:Paper x") == "32.39"
    embedded = re.search(r'<script id="data" type="application/json">(.*?)</script>', text)
    data = json.loads(embedded[1])
    assert [r["image"] for r in data["images"]] == [r["image"] for r in result["images"]]
    for shown, ours, base in zip(data["images"], result["images"], baseline["images"], strict=True):
        assert shown["gain"] == pytest.approx(ours["psnr"] - base["psnr"])
        for name in ("bicubic", "model", "hr", "thumb"):
            assert (tmp_path / shown["files"][name]).is_file()
        hr = np.asarray(Image.open(tmp_path / shown["files"]["hr"]))
        assert hr.shape[:2] == (shown["size"][1], shown["size"][0])
        assert f'data-name="Set5/{ours["image"][:-4]}"' in text
    grey = next(r for r in data["images"] if r["image"] == "woman.png")
    assert np.asarray(Image.open(tmp_path / grey["files"]["hr"]).convert("L")).shape == (39, 39)
    assert not re.search(r"(src|href)=\"?(https?:)?//", text), "the page must work offline"
