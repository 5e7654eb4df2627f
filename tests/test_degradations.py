"""MATLAB-compatible bicubic imresize, Gaussian blur degradation and modcrop."""

import json

import pytest
import torch

from espcn_lightning.core.degradations import (
    Bicubic,
    GaussianBlur,
    cubic,
    gaussian_kernel,
    imresize,
    modcrop,
)


def test_cubic_kernel_has_keys_values_for_a_minus_half():
    x = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 2.5], dtype=torch.float64)
    expected = torch.tensor([1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(cubic(x), expected)


def test_upscale_x2_first_pixel_uses_symmetric_padding():
    # out(1) sits at u = 0.75: taps at 1-based -1, 0, 1, 2 with weights
    # -0.0234375, 0.2265625, 0.8671875, -0.0703125; symmetric padding maps -1 -> 2 and 0 -> 1,
    # so out(1) = 1.09375 x(1) - 0.09375 x(2).
    row = torch.tensor([[0.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    assert imresize(row, 2)[0, 0].item() == pytest.approx(-0.09375, abs=1e-12)
    row = torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    assert imresize(row, 2)[0, 0].item() == pytest.approx(1.09375, abs=1e-12)


def test_downscale_by_3_averages_a_constant_image_to_itself():
    image = torch.full((12, 9), 0.37, dtype=torch.float64)
    torch.testing.assert_close(
        imresize(image, 1 / 3), torch.full((4, 3), 0.37, dtype=torch.float64)
    )


def test_upscaling_reproduces_a_linear_ramp_away_from_the_borders():
    ramp = torch.arange(10, dtype=torch.float64)[None, :].repeat(3, 1)
    out = imresize(ramp, 3)
    positions = (torch.arange(1, 31, dtype=torch.float64) / 3 + 0.5 * (1 - 1 / 3)) - 1
    torch.testing.assert_close(out[1, 6:-6], positions[6:-6])


def test_imresize_matches_the_independent_matlab_vectors(reference_dir):
    for case in json.loads((reference_dir / "imresize_vectors.json").read_text()):
        image = torch.tensor(case["input"], dtype=torch.float64)
        expected = torch.tensor(case["output"], dtype=torch.float64)
        torch.testing.assert_close(imresize(image, case["scale"]), expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_degradation_divides_the_size_by_the_scale(scale):
    hr = torch.rand(2, 1, 12 * scale, 5 * scale, dtype=torch.float64)
    assert Bicubic(scale)(hr).shape == (2, 1, 12, 5)


def test_gaussian_degradation_blurs_then_subsamples():
    hr = torch.zeros(15, 15, dtype=torch.float64)
    hr[7, 7] = 1.0
    lr = GaussianBlur(3, kernel_size=5, sigma=1.0)(hr)
    assert lr.shape == (5, 5)
    assert lr[2, 2].item() == pytest.approx(gaussian_kernel(5, 1.0)[2, 2].item())
    assert lr.sum().item() < 1.0


def test_gaussian_degradation_refuses_an_even_kernel():
    with pytest.raises(ValueError, match="kernel_size=4"):
        GaussianBlur(3, kernel_size=4)


def test_modcrop_crops_rather_than_resizes():
    image = torch.arange(10 * 11).reshape(10, 11)
    cropped = modcrop(image, 3)
    assert cropped.shape == (9, 9)
    assert torch.equal(cropped, image[:9, :9])
