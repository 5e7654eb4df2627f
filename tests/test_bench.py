"""The bench's ceiling (the best measured kernel per dtype, engines included: none above it) and
its frame (1080p out at every scale), and the video path's cost per stage."""

import subprocess
import sys

import pytest
import torch

from benchmarks.common import lr_frame
from benchmarks.engines import engine_dtype, with_ceilings
from benchmarks.video import video_stages
from espcn_lightning.core.network import ESPCN


def rows(**fps):
    return [{"engine": name, "fps": value} for name, value in fps.items()]


def test_an_engine_faster_than_every_measured_kernel_is_the_ceiling_itself():
    kernels = {"fp32": {"gemm": 100.0, "conv2d": 150.0}, "bf16": {"gemm": 300.0}}
    table = rows(eager=10.0, onnxruntime=20.0, bf16=25.0)
    ceilings = with_ceilings(kernels, table, gflop=10.0)
    assert ceilings["fp32"] == {"gflops": 200.0, "reached_by": "onnxruntime", "fps": 20.0}
    assert ceilings["bf16"]["reached_by"] == "gemm"
    assert [r["of_ceiling"] for r in table] == [pytest.approx(0.5), 1.0, pytest.approx(250 / 300)]


def test_engines_are_held_to_the_ceiling_of_their_own_dtype():
    assert engine_dtype("bf16") == "bf16"
    assert engine_dtype("channels_last") == "fp32"
    assert engine_dtype("eager, glibc default allocator") == "fp32"
    assert engine_dtype("int8") is None
    table = rows(int8=1000.0)
    with_ceilings({"fp32": {"gemm": 1.0}}, table, gflop=10.0)
    assert table[0]["of_ceiling"] is None


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_every_scale_is_benched_on_the_lr_frame_that_comes_out_as_1080p(scale):
    height, width = lr_frame(scale)
    assert (height * scale, width * scale) == (1080, 1920)


def test_video_stages_cost_every_stage_on_one_thread_and_restore_the_thread_settings(data_dir):
    """Needs BSD200 (the clip's photograph)."""
    threads = torch.get_num_threads()
    cost = video_stages(ESPCN(scale=4, widths=(4, 4)), data_dir, "eager", frames=2)
    assert list(cost) == [
        "decode (MJPG, LR)",
        "to YCbCr",
        "network (eager)",
        "colour back end, whole frame",
        "colour back end, band by band",
        "encode (mp4v, 1080p)",
        "encode (MJPG, 1080p)",
    ]
    assert all(ms > 0 for ms in cost.values())
    assert torch.get_num_threads() == threads


def test_the_bench_runs_as_a_module_and_explains_its_options(root):
    """``python -m benchmarks`` calls its main (a module without the call printed nothing)."""
    shown = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--help"], cwd=root, capture_output=True, text=True
    )
    assert shown.returncode == 0 and "--only" in shown.stdout
