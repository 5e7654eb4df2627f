"""The evaluation protocol: image-weighted averages, and the field's bicubic numbers reproduced
from the independent reference."""

import csv

import pytest

from espcn_lightning.core.degradations import Bicubic, bicubic_upscaler
from espcn_lightning.core.images import read_image
from espcn_lightning.datasets.catalogue import dataset_files
from espcn_lightning.evaluation.protocol import (
    DatasetScore,
    average_by_image,
    evaluate,
    evaluate_image,
)


def reference(reference_dir, scale):
    rows = csv.DictReader((reference_dir / "bicubic_y_psnr_ssim.tsv").open(), delimiter="\t")
    return {(r["dataset"], r["image"]): r for r in rows if int(r["scale"]) == scale}


def test_average_weighs_every_image_equally_across_datasets():
    small, large = DatasetScore(), DatasetScore()
    small.add(30.0, 0.9, 0.1)
    for _ in range(3):
        large.add(26.0, 0.7, 0.1)
    average = average_by_image({"small": small, "large": large})
    assert average == {"psnr": 27.0, "ssim": pytest.approx(0.75), "images": 4}


@pytest.mark.parametrize(("image", "expected"), [("baboon", 23.21), ("comic", 23.12)])
def test_x3_bicubic_psnr_of_named_set14_images(data_dir, image, expected):
    path = data_dir / "Set14" / f"{image}.png"
    value, _, _ = evaluate_image(read_image(path), bicubic_upscaler(3), Bicubic(3), 3)
    assert value == pytest.approx(expected, abs=0.005)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_every_set5_and_set14_image_matches_the_reference(data_dir, reference_dir, scale):
    expected = reference(reference_dir, scale)
    for name in ("Set5", "Set14"):
        for path in dataset_files(data_dir, name):
            image = read_image(path)
            value, index, _ = evaluate_image(image, bicubic_upscaler(scale), Bicubic(scale), scale)
            row = expected[(name, path.name)]
            assert value == pytest.approx(float(row["psnr_bicubic"]), abs=1e-3), path.name
            assert index == pytest.approx(float(row["ssim_bicubic"]), abs=1e-4), path.name


def test_x3_bicubic_dataset_means_match_the_paper_on_set5_and_set14(data_dir):
    result = evaluate(bicubic_upscaler(3), Bicubic(3), 3, data_dir, ["Set5", "Set14"])
    assert result["datasets"]["Set5"]["psnr"] == pytest.approx(30.39, abs=0.01)
    assert result["datasets"]["Set14"]["psnr"] == pytest.approx(27.54, abs=0.01)
    assert result["datasets"]["Set5"]["ssim"] == pytest.approx(0.868, abs=0.002)
    assert result["datasets"]["Set14"]["ssim"] == pytest.approx(0.774, abs=0.002)
    assert result["average"]["images"] == 19


@pytest.mark.slow
def test_x3_bicubic_bsd_means_match_the_paper(data_dir):
    result = evaluate(bicubic_upscaler(3), Bicubic(3), 3, data_dir, ["BSD100", "BSD200"])
    assert result["datasets"]["BSD100"]["psnr"] == pytest.approx(27.21, abs=0.01)
    assert result["datasets"]["BSD200"]["psnr"] == pytest.approx(27.26, abs=0.01)
    assert result["datasets"]["BSD100"]["ssim"] == pytest.approx(0.738, abs=0.002)
