"""The evaluate and bench commands refuse bad options in one line, before any scoring."""

import os
import subprocess
import sys

import pytest

from benchmarks.__main__ import main as bench_main
from espcn_lightning.core.errors import DataError
from espcn_lightning.evaluate import figure_files, markdown_table, published_columns


def scored(**psnr):
    """A table1.json-shaped result with one image per set and the given PSNRs."""
    rows = {
        name: {"images": 1, "psnr": v, "ssim": 0.9, "seconds_per_image": 0.1}
        for name, v in psnr.items()
    }
    average = {"images": len(rows), "psnr": sum(psnr.values()) / len(rows), "ssim": 0.9}
    return {"scale": 4, "model": "m", "datasets": rows, "average": average}


def test_the_x4_table_puts_the_papers_imagenet_row_fsrcnn_srcnn_and_bicubic_beside_ours():
    ours = scored(Set5=31.0, Set14=27.8, BSD100=27.1, BSD200=27.1)
    bicubic = scored(Set5=28.42, Set14=26.0, BSD100=25.96, BSD200=25.97)
    table = markdown_table(ours, published_columns("relu", 4), bicubic)
    head, _, set5, set14, bsd100, _, average = table.splitlines()[2:9]
    assert head == (
        "| Dataset | Images | PSNR (dB) | SSIM | Bicubic (measured) | Paper ESPCN ImageNet "
        "| Paper bicubic | FSRCNN | SRCNN | s/image |"
    )
    assert set5.startswith("| Set5 | 1 | 31.00 | 0.9000 | 28.42 | 30.90 | 28.42 | 30.71 | 30.49 |")
    assert set14.startswith(
        "| Set14 | 1 | 27.80 | 0.9000 | 26.00 | 27.73 | 26.00 | 27.59 | 27.50 |"
    )
    assert "| 27.06 | 25.96 |  |  |" in bsd100, "FSRCNN and SRCNN give no BSD100 at x4: empty"
    assert average.startswith(
        "| **Average** | 4 | 28.25 | 0.9000 | 26.59 | 28.19 | 26.59 |  |  | |"
    )
    assert "nan" not in table
    assert "SuperTexture136" in table


def test_a_table_with_no_published_column_has_as_many_header_cells_as_row_cells():
    bicubic = scored(Set5=33.66, Set14=30.23)
    table = markdown_table(bicubic, published_columns(None, 2), None)
    head, rule, *rows = table.splitlines()[2:6]
    assert head == "| Dataset | Images | PSNR (dB) | SSIM | s/image |"
    assert all(line.count("|") == head.count("|") for line in [rule, *rows])


def test_the_x3_table_quotes_the_papers_t91_row_of_the_models_own_activation():
    assert "Paper ESPCN tanh T91" in published_columns("tanh", 3)
    assert "Paper ESPCN relu T91" not in published_columns("tanh", 3)
    assert list(published_columns(None, 3)) == ["Paper bicubic"]
    assert list(published_columns("relu", 2)) == ["FSRCNN", "SRCNN"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["device=cuda"], "error: device cuda: no CUDA device is visible; use cpu or auto"),
        (["upscaler=bicubic", "scale=0"], "error: scale=0: use a whole upscaling factor"),
        (["figures=[Set5/nope]"], "error: figures: Set5 has no image 'nope'; it has baby, bird"),
        (["scale=5"], "error: no shipped x5 model (shipped: x2, x3, x4); train one"),
        (["checkpoint=espcn_x3_relu_t91", "scale=2"], "model is for x3, not x2; pick a x2 model"),
    ],
)
def test_bad_evaluate_options_end_in_one_line(tmp_path, data_dir, root, overrides, message):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "espcn_lightning.evaluate",
            f"hydra.run.dir={tmp_path}",
            f"paths.data_dir={data_dir}",
            "datasets=[Set5]",
            *overrides,
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == message or message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "table1.json").exists()


def test_figures_must_name_a_dataset_and_one_of_its_images(data_dir):
    assert [p.name for p in figure_files(data_dir, ["Set5/butterfly"])] == ["butterfly.png"]
    with pytest.raises(DataError, match="'Set5' is not DATASET/IMAGE"):
        figure_files(data_dir, ["Set5"])
    with pytest.raises(DataError, match="unknown dataset 'Set6'"):
        figure_files(data_dir, ["Set6/baby"])


def test_bench_without_a_data_directory_ends_in_one_line(tmp_path, capsys):
    assert bench_main(["--data-dir", str(tmp_path / "nowhere"), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the benchmark needs T91, Set5 and BSD200: data directory")
    assert err.count("\n") == 1
