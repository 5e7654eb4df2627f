"""The robustness matrix and OpenCV's ESPCN read from its TensorFlow graph."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from tensorboard.compat.proto.graph_pb2 import GraphDef
from tensorboard.util.tensor_util import make_tensor_proto

from espcn_lightning.core.errors import DataError
from espcn_lightning.datasets.download import DownloadError
from espcn_lightning.evaluation.opencv_espcn import COMMIT, REPOSITORY, graph_path, read_graph
from espcn_lightning.evaluation.robustness import markdown_matrix, robustness_matrix, worst_gains
from espcn_lightning.evaluation.upscalers import espcn
from espcn_lightning.inference.pretrained import default_model, picture_model, robust_model


def write_graph(path, weights: dict[str, np.ndarray]) -> None:
    """A TF-ESPCN-shaped GraphDef: Const nodes holding each weight."""
    graph = GraphDef()
    for name, value in weights.items():
        node = graph.node.add(name=name, op="Const")
        node.attr["value"].tensor.CopyFrom(make_tensor_proto(value.astype(np.float32)))
    path.write_bytes(graph.SerializeToString())


def delta(size: int, row: int, col: int, outputs: int = 1) -> np.ndarray:
    """A TF (H, W, in, out) kernel passing one tap through to every output channel."""
    kernel = np.zeros((size, size, 1, outputs), np.float32)
    kernel[row, col, 0, :] = 1
    return kernel


def test_a_tf_graph_is_read_in_tfs_layout_convolution_taps_and_depth_to_space(tmp_path):
    """f1 takes the pixel two rows up and one column left (TF cross-correlates, kernels are
    height x width x in x out); f2 and f3 pass it on; tanh is applied to the output."""
    scale = 3
    path = tmp_path / "tiny.pb"
    write_graph(
        path,
        {
            "f1": delta(5, 0, 1),
            "b1": np.zeros(1),
            "f2": delta(3, 1, 1),
            "b2": np.zeros(1),
            "f3": delta(3, 1, 1, scale**2),
            "b3": np.zeros(scale**2),
        },
    )
    lr = torch.rand(1, 1, 9, 11)
    sr = read_graph(path, scale)(lr)[0, 0]
    expected = torch.tanh(lr[0, 0, 2 - 2, 4 - 1])
    assert torch.allclose(sr[2 * scale : 3 * scale, 4 * scale : 5 * scale], expected.expand(3, 3))


def test_a_graph_without_espcn_weights_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "other.pb"
    write_graph(path, {"w": np.zeros(3)})
    with pytest.raises(DataError, match="other.pb is not a TF-ESPCN graph"):
        read_graph(path, 3)


def test_opencvs_graphs_are_fetched_pinned_and_a_different_file_is_not_kept(tmp_path):
    mirror = tmp_path / "mirror" / REPOSITORY / COMMIT / "export"
    mirror.mkdir(parents=True)
    (mirror / "ESPCN_x3.pb").write_bytes(b"not the pinned graph")
    with pytest.raises(DownloadError, match="not the pinned one"):
        graph_path(3, tmp_path / "cache", mirror=(tmp_path / "mirror").as_uri())
    assert not (tmp_path / "cache" / "ESPCN_x3.pb").exists()


def test_the_matrix_reads_as_the_gain_over_bicubic_per_cell():
    matrix = {
        "scale": 3,
        "models": ["m"],
        "datasets": ["Set5"],
        "cells": {
            "bicubic": {"Set5": {"bicubic": 30.0, "m": 32.5}},
            "opencv_cubic": {"Set5": {"bicubic": 29.0, "m": 27.0}},
        },
    }
    table = markdown_matrix(matrix)
    assert "| bicubic | Set5 | 30.00 | +2.50 |" in table
    assert "| opencv_cubic | Set5 | 29.00 | -2.00 |" in table
    assert worst_gains(matrix) == {"m": -2.0}


def run_robustness(tmp_path, data_dir, *overrides) -> subprocess.CompletedProcess:
    """The robustness command into ``tmp_path``, its output captured."""
    command = [sys.executable, "-m", "espcn_lightning.robustness", f"hydra.run.dir={tmp_path}"]
    return subprocess.run(
        [*command, f"paths.data_dir={data_dir}", *overrides],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def robustness(tmp_path, data_dir, *overrides) -> dict:
    result = run_robustness(
        tmp_path, data_dir, "datasets=[Set5]", "degradations=[bicubic,opencv_cubic]", *overrides
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "robustness.md").read_text() in result.stdout
    return json.loads((tmp_path / "robustness.json").read_text())["cells"]


def test_the_matrix_on_set5_shows_the_paper_model_losing_to_bicubic_without_antialiasing(
    tmp_path, data_dir
):
    """Bicubic under the paper's protocol is the paper's 30.39; the paper-protocol model gains
    over 2 dB there and loses to bicubic on an LR image OpenCV shrank."""
    cells = robustness(tmp_path, data_dir, "models=[espcn_x3_relu_291]")
    paper, opencv = cells["bicubic"]["Set5"], cells["opencv_cubic"]["Set5"]
    assert paper["bicubic"] == pytest.approx(30.39, abs=0.01)
    assert paper["espcn_x3_relu_291"] - paper["bicubic"] > 2.0
    assert opencv["espcn_x3_relu_291"] < opencv["bicubic"]


def test_an_unknown_degradation_ends_in_one_line_naming_the_choices(tmp_path, data_dir):
    result = run_robustness(tmp_path, data_dir, "degradations=[blurry]")
    assert result.returncode == 1
    assert "no degradation 'blurry'" in result.stderr.strip().splitlines()[-1]


#: Set5 PSNR of each shipped robust model under two degradations, pinned from
#: ``python -m espcn_lightning.robustness scale=N`` (the full matrices: docs/robustness.md).
ROBUST_SET5 = {
    2: {"bicubic": 35.251, "opencv_cubic": 34.413},
    3: {"bicubic": 31.676, "opencv_cubic": 30.075},
    4: {"bicubic": 29.652, "opencv_cubic": 28.126},
}


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_shipped_robust_models_set5_rows_are_pinned_and_beat_bicubic_without_antialiasing(
    data_dir, scale
):
    name = f"espcn_x{scale}_robust_291"
    matrix = robustness_matrix(
        {name: espcn(scale, name).upscale}, ["bicubic", "opencv_cubic"], scale, data_dir, ["Set5"]
    )
    for degradation, expected in ROBUST_SET5[scale].items():
        row = matrix["cells"][degradation]["Set5"]
        assert row[name] == pytest.approx(expected, abs=0.01)
    row = matrix["cells"]["opencv_cubic"]["Set5"]
    assert row[name] > row["bicubic"]  # where the paper-protocol model loses 2.5 dB


def test_upscale_uses_the_robust_models_where_shipped_and_evaluate_the_paper_ones():
    for scale in (2, 3, 4):
        assert picture_model(scale) == robust_model(scale) == f"espcn_x{scale}_robust_291"
    assert robust_model(5) is None
    for scale in (2, 3, 4):
        assert default_model(scale) == f"espcn_x{scale}_relu_291"
