"""Inference engines: each runs the same network, within the precision it promises."""

import platform
import sys

import numpy as np
import pytest
import torch

from espcn_lightning import load_model
from espcn_lightning.core.colour import luma
from espcn_lightning.core.degradations import Bicubic
from espcn_lightning.core.errors import EngineError
from espcn_lightning.core.images import read_image
from espcn_lightning.inference import engines
from espcn_lightning.inference.engines import (
    build,
    keep_freed_memory,
    network_upscaler,
    pick_device,
    resolve,
    torch_upscaler,
)


@pytest.fixture(scope="module")
def net():
    return load_model("espcn_x3_relu_t91")


@pytest.fixture
def lr(data_dir):
    y = torch.from_numpy(luma(read_image(data_dir / "Set5" / "butterfly.png"))).double() / 255
    return Bicubic(3)(y)[None, None].float()


@pytest.mark.parametrize(
    ("engine", "tolerance"),
    [("channels_last", 1e-5), ("onnxruntime", 1e-4), ("bf16", 0.05)],
)
def test_each_cpu_engine_matches_eager_float32(net, lr, engine, tolerance):
    expected = network_upscaler(net)(lr)
    got = build(engine, net)(lr)
    assert got.shape == expected.shape and got.dtype == lr.dtype
    assert (got - expected).abs().max().item() <= tolerance


def test_int8_calibrated_on_training_images_stays_close_to_float32(net, lr, t91_calibration):
    expected = network_upscaler(net)(lr)
    got = build("int8", net, t91_calibration)(lr)
    rmse = (got - expected).pow(2).mean().sqrt().item()
    assert 0 < rmse < 2 / 255


@pytest.mark.parametrize(("native", "expected"), [(True, "bf16"), (False, "onnxruntime")])
def test_auto_is_bf16_on_cpus_with_native_bf16_else_onnxruntime(monkeypatch, native, expected):
    monkeypatch.setattr(engines, "native_bf16", lambda: native)
    assert resolve("auto", torch.device("cpu")) == expected
    assert resolve("auto", torch.device("cuda")) == "half"
    assert resolve("eager", torch.device("cpu")) == "eager"


@pytest.mark.skipif(platform.system() != "Linux", reason="glibc only")
def test_large_freed_blocks_are_kept_for_the_next_frame_on_glibc():
    assert keep_freed_memory() is True


def test_engines_that_cannot_run_here_say_what_to_use_instead(net):
    with pytest.raises(EngineError, match="needs CUDA"):
        build("half", net)
    with pytest.raises(EngineError, match="calibration"):
        build("int8", net)


def test_engines_accept_double_input_and_return_it(net, lr):
    out = build("onnxruntime", net)(lr.double())
    assert out.dtype == torch.float64
    assert np.isfinite(out.numpy()).all()


def test_fp16_numerics_of_the_cuda_engine_stay_close_to_float32(net, lr):
    """The CUDA engine's precision, checked with CPU half kernels (no GPU in CI)."""
    expected = network_upscaler(net)(lr)
    got = torch_upscaler(net, torch.float16, channels_last=True)(lr)
    assert (got - expected).abs().max().item() <= 0.01


def test_a_cuda_device_without_cuda_is_refused_naming_the_option(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(EngineError, match="device cuda: no CUDA device is visible; use cpu"):
        pick_device("cuda", "device")
    with pytest.raises(EngineError, match="--device tpu: not a device"):
        pick_device("tpu")
    assert pick_device("auto") == torch.device("cpu")


@pytest.mark.parametrize("missing", ["onnx", "onnxruntime"])
def test_onnx_engines_without_onnx_installed_say_what_to_install(net, monkeypatch, missing):
    monkeypatch.setitem(sys.modules, missing, None)
    with pytest.raises(EngineError, match=rf"needs {missing}, which is not installed: pip install"):
        build("onnxruntime", net)
    monkeypatch.setattr(engines, "native_bf16", lambda: False)
    assert resolve("auto", torch.device("cpu")) == "eager"
