"""Tiled upscaling: identical to the whole image, with memory bounded by the tile."""

import cv2
import numpy as np
import pytest

from benchmarks.memory import peak_memory
from espcn_lightning import load_model
from espcn_lightning.core.colour import enlarge_bicubic, upscale_rgb
from espcn_lightning.core.hardware import native_bf16
from espcn_lightning.core.network import ESPCN
from espcn_lightning.core.tiling import receptive_radius, spans, tile_margin, tiled_upscaler
from espcn_lightning.inference.engines import build


@pytest.fixture(scope="module")
def net():
    return load_model("espcn_x3_relu_t91")


def random_image(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("engine", ["eager", "channels_last", "onnxruntime", "bf16"])
@pytest.mark.parametrize("shape", [(150, 201, 3), (150, 201)])
def test_tiled_upscaling_is_identical_to_upscaling_the_whole_image(net, engine, shape):
    if engine == "bf16" and native_bf16():
        pytest.skip("bf16 on a CPU with native bf16: tiles may round differently (docs: Speed)")
    image = random_image(shape)
    upscale = build(engine, net)
    whole = upscale_rgb(image, upscale, net.scale)
    tiled = tiled_upscaler(upscale, net.scale, tile_margin(net), tile=64)(image)
    assert tiled.shape == whole.shape
    assert np.array_equal(tiled, whole)


@pytest.mark.parametrize("model", ["espcn_x2_relu_291", "espcn_x4_relu_291"])
@pytest.mark.parametrize("tile", [64, 70, 100])
def test_tiles_equal_the_whole_image_at_x2_and_x4_where_opencv_enlarges_the_chroma(model, tile):
    image = random_image((150, 201, 3), seed=tile)
    net = load_model(model)
    upscale = build("eager", net)
    whole = upscale_rgb(image, upscale, net.scale)
    assert np.array_equal(tiled_upscaler(upscale, net.scale, tile_margin(net), tile)(image), whole)


def test_a_margin_narrower_than_the_receptive_field_would_show_seams(net):
    image = random_image((150, 201, 3))
    upscale = build("eager", net)
    whole = upscale_rgb(image, upscale, net.scale)
    assert not np.array_equal(tiled_upscaler(upscale, net.scale, 1, tile=64)(image), whole)


def test_the_network_never_sees_more_than_a_tile_and_its_margins(net):
    seen = []
    upscale = build("eager", net)

    def spy(lr):
        seen.append(tuple(lr.shape[-2:]))
        return upscale(lr)

    margin = tile_margin(net)
    tiled_upscaler(spy, net.scale, margin, tile=64)(random_image((300, 400, 3)))
    assert len(seen) == 5 * 7
    assert max(max(shape) for shape in seen) <= 64 + 2 * margin


def test_images_of_at_most_one_tile_of_pixels_are_upscaled_whole(net):
    seen = []
    upscale = build("eager", net)
    tiled_upscaler(lambda lr: seen.append(lr.shape) or upscale(lr), 3, 4, tile=64)(
        random_image((32, 128, 3))
    )
    assert len(seen) == 1


def test_spans_cover_every_pixel_once_and_cut_margins_inside_the_image():
    for size, tile, margin in [(1000, 64, 4), (65, 64, 4), (64, 64, 4), (7, 64, 4)]:
        pieces = spans(size, tile, margin)
        kept = [i for start, stop, _, _ in pieces for i in range(start, stop)]
        assert kept == list(range(size))
        for start, stop, cut_start, cut_stop in pieces:
            assert stop - start <= tile
            assert cut_start == max(0, start - margin) and cut_stop == min(size, stop + margin)


def test_the_receptive_radius_is_the_sum_of_the_kernel_radii():
    assert receptive_radius(ESPCN(kernels=(5, 3, 3))) == 4
    assert receptive_radius(ESPCN(kernels=(9, 5, 5))) == 8
    assert tile_margin(ESPCN(kernels=(1, 1, 1))) == 2  # the bicubic chroma still reaches 2


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_chroma_enlargement_matches_opencv_bicubic(scale):
    planes = np.random.default_rng(1).random((40, 57, 2)).astype(np.float32) * 255
    height, width = planes.shape[:2]
    expected = cv2.resize(planes, (width * scale, height * scale), interpolation=cv2.INTER_CUBIC)
    got = enlarge_bicubic(planes, scale)
    assert got.shape == (2, height * scale, width * scale)
    assert np.abs(got - expected.transpose(2, 0, 1)).max() < 0.002


def test_tiles_bound_the_peak_memory_of_a_large_image():
    """Measured in fresh processes (ru_maxrss): the tiled upscale adds a fraction of the whole
    image's peak, which is mostly the network's activations."""
    whole = peak_memory("espcn_x3_relu_t91", 900, 0, "eager")
    tiled = peak_memory("espcn_x3_relu_t91", 900, 128, "eager")
    first_activation_mb = 64 * 900 * 900 * 4 / 1e6  # 64 float32 channels over the whole image
    assert whole["added_mb"] > first_activation_mb
    assert tiled["added_mb"] < 0.5 * whole["added_mb"]
