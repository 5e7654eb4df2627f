"""The evaluate and bench commands refuse bad options in one line, before any scoring."""

import os
import subprocess
import sys

import pytest

from espcn_lightning.bench import main as bench_main
from espcn_lightning.errors import DataError
from espcn_lightning.evaluate import figure_files


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["device=cuda"], "error: device cuda: no CUDA device is visible; use cpu or auto"),
        (["upscaler=bicubic", "scale=0"], "error: scale=0: use a whole upscaling factor"),
        (["figures=[Set5/nope]"], "error: figures: Set5 has no image 'nope'; it has baby, bird"),
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
