"""Per-image PSNR / SSIM on quantised, shaved Y, and the per-patch PSNR of validation."""

import math

import pytest
import torch

from espcn_lightning.core.metrics import patch_psnr, psnr, quantise, shave, ssim


def test_quantise_clamps_then_rounds_to_8_bit_levels():
    values = torch.tensor([-0.2, 0.0, 0.5, 1.0, 1.3, 0.5 / 255 + 1e-9])
    assert quantise(values).tolist() == [0.0, 0.0, 128.0, 255.0, 255.0, 1.0]


def test_shave_drops_the_border_on_each_side():
    assert shave(torch.zeros(1, 10, 12), 3).shape == (1, 4, 6)


def test_psnr_is_per_image_not_pooled_over_the_batch():
    target = torch.zeros(2, 1, 8, 8, dtype=torch.float64)
    prediction = target.clone()
    prediction[0] += 1.0
    prediction[1] += 10.0
    values = psnr(prediction, target, border=0)
    expected = [10 * math.log10(255**2 / 1.0), 10 * math.log10(255**2 / 100.0)]
    assert values.tolist() == pytest.approx(expected)


def test_psnr_ignores_errors_in_the_shaved_border():
    target = torch.full((12, 12), 100.0, dtype=torch.float64)
    prediction = target.clone()
    prediction[:3] = 0
    prediction[5, 5] = 101
    assert psnr(prediction, target, border=3).item() == pytest.approx(10 * math.log10(255**2 * 36))


def test_ssim_is_one_for_identical_images_and_lower_for_noise():
    image = torch.rand(1, 1, 40, 40, dtype=torch.float64) * 255
    assert ssim(image, image, border=3).item() == pytest.approx(1.0)
    noise = torch.randn_like(image)
    mild, strong = (ssim(image + noise * sigma, image, border=3).item() for sigma in (20, 60))
    assert strong < mild < 0.99


def test_patch_psnr_is_per_patch_on_clamped_outputs():
    hr = torch.full((2, 1, 4, 4), 0.5)
    sr = hr.clone()
    sr[0] += 0.1
    sr[1] = 2.0  # clamped to 1: an error of 0.5
    expected = [-10 * math.log10(0.1**2), -10 * math.log10(0.5**2)]
    assert patch_psnr(sr, hr).tolist() == pytest.approx(expected, abs=1e-4)
