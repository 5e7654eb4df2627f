"""Inference engines: each runs the same network, within the precision it promises."""

import json
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
from espcn_lightning.evaluation.protocol import evaluate
from espcn_lightning.inference import engine_choice, engines
from espcn_lightning.inference.engine_choice import EXACT
from espcn_lightning.inference.engines import (
    build,
    keep_freed_memory,
    network_upscaler,
    pick_device,
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


def fake_timings(monkeypatch, seconds: dict[str, float]) -> list[str]:
    """Make timing an engine return ``seconds`` for it; returns the engines timed, in order."""
    timed: list[str] = []

    def time_engine(upscale, lr, repeats=3):
        name = next(n for n, f in built.items() if f is upscale)
        timed.append(name)
        return seconds[name]

    built: dict[str, object] = {}

    def build_and_note(name, net, calibration=None):
        built[name] = build(name, net, calibration)
        return built[name]

    monkeypatch.setattr(engine_choice, "time_engine", time_engine)
    monkeypatch.setattr(engines, "build", build_and_note)
    return timed


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        ({"eager": 3.0, "channels_last": 2.0, "bf16": 5.0, "onnxruntime": 1.0}, "onnxruntime"),
        ({"eager": 3.0, "channels_last": 2.0, "bf16": 0.5, "onnxruntime": 1.0}, "bf16"),
        ({"eager": 0.9, "channels_last": 2.0, "bf16": 5.0, "onnxruntime": 1.0}, "eager"),
    ],
)
def test_auto_picks_the_engine_measured_fastest_here_never_a_fixed_rule(
    net, monkeypatch, seconds, expected
):
    timed = fake_timings(monkeypatch, seconds)
    auto = engines.build("auto", net)
    assert auto.engine_for(torch.rand(1, 1, 40, 60)) == expected
    assert sorted(timed) == sorted(EXACT["cpu"])  # every exact engine, never int8


def test_autos_choice_is_kept_per_machine_scale_and_size_and_read_back(net, monkeypatch):
    timed = fake_timings(monkeypatch, {"eager": 3, "channels_last": 2, "bf16": 5, "onnxruntime": 1})
    first = engines.build("auto", net)
    first(torch.rand(1, 1, 40, 60))
    assert len(timed) == 4
    engines.build("auto", net)(torch.rand(1, 1, 41, 59))  # same size class: read from the cache
    assert len(timed) == 4
    engines.build("auto", net)(torch.rand(1, 1, 200, 300))  # another size: measured anew
    assert len(timed) == 8
    stored = json.loads(engine_choice.cache_path().read_text())
    assert [r["engine"] for r in stored.values()] == ["onnxruntime", "onnxruntime"]
    assert all("x3 [64, 32] [5, 3, 3]" in key for key in stored)


def test_an_unreadable_choice_cache_is_measured_over(net, monkeypatch):
    engine_choice.cache_path().write_text("{not json")
    timed = fake_timings(monkeypatch, {"eager": 3, "channels_last": 2, "bf16": 5, "onnxruntime": 1})
    assert engines.build("auto", net).engine_for(torch.rand(1, 1, 40, 60)) == "onnxruntime"
    assert len(timed) == 4 and json.loads(engine_choice.cache_path().read_text())


def test_auto_gives_the_output_of_the_engine_it_chose(net, lr):
    auto = build("auto", net)
    chosen = auto.engine_for(lr)
    assert torch.equal(auto(lr), build(chosen, net)(lr))


@pytest.mark.parametrize("engine", ["channels_last", "onnxruntime", "bf16"])
def test_every_engine_auto_may_choose_keeps_psnr_within_0_05_db_of_fp32_on_held_out_images(
    net, data_dir, engine
):
    """Held-out training images (every 10th of BSDS300_train), never the test sets."""
    fp32 = evaluate(network_upscaler(net), Bicubic(3), 3, data_dir, ["BSDS300_train/40"])
    other = evaluate(build(engine, net), Bicubic(3), 3, data_dir, ["BSDS300_train/40"])
    assert abs(other["average"]["psnr"] - fp32["average"]["psnr"]) <= 0.05


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
    auto = build("auto", net)
    assert auto.engine_for(torch.rand(1, 1, 30, 30)) != "onnxruntime"  # measured without it
