"""BT.601 studio-swing YCbCr as MATLAB's rgb2ycbcr / ycbcr2rgb, and colour upscaling."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from espcn_lightning.core.colour import (
    BAND_ROWS,
    enlarge_bicubic,
    luma,
    rgb8_to_ycbcr,
    rgb_to_ycbcr,
    upscale_rgb,
    ycbcr_to_rgb8,
)


def test_black_and_white_map_to_studio_swing_limits():
    rgb = torch.tensor([0.0, 1.0], dtype=torch.float64).view(1, 2, 1).expand(3, 2, 1)
    ycbcr = rgb_to_ycbcr(rgb)
    torch.testing.assert_close(
        ycbcr[:, :, 0].T, torch.tensor([[16.0, 128, 128], [235, 128, 128]], dtype=torch.float64)
    )


def test_the_fast_ycbcr_round_trip_gives_the_8_bit_picture_back():
    rgb = np.random.default_rng(0).integers(0, 256, (16, 17, 3), np.uint8)
    ycbcr = rgb8_to_ycbcr(rgb)
    back = ycbcr_to_rgb8(ycbcr[..., 0] / 255, ycbcr[..., 1], ycbcr[..., 2])
    assert np.abs(back.astype(int) - rgb).max() <= 1


def test_luma_rounds_like_matlab_uint8():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128]]], dtype=np.uint8)
    # 16 + 65.481 = 81.481 -> 81; 16 + 128.553 = 144.553 -> 145; 16 + 24.966 = 40.966 -> 41;
    # 16 + 219 * 128 / 255 = 125.929 -> 126
    assert luma(rgb).tolist() == [[81, 145, 41, 126]]


def test_luma_takes_a_grey_image_as_y_unchanged():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert luma(grey) is grey


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_colour_upscaling_band_by_band_gives_the_whole_frame_conversion_bytes(scale):
    rgb = np.random.default_rng(2).integers(0, 256, (BAND_ROWS * 2 + 7, 45, 3), dtype=np.uint8)

    def nearest(y: torch.Tensor) -> torch.Tensor:
        return F.interpolate(y, scale_factor=scale, mode="nearest")

    ycbcr = rgb8_to_ycbcr(rgb)
    y = nearest(torch.from_numpy(ycbcr[..., 0] / 255.0)[None, None])[0, 0].numpy()
    cb, cr = enlarge_bicubic(ycbcr[..., 1:], scale)
    assert np.array_equal(upscale_rgb(rgb, nearest, scale), ycbcr_to_rgb8(y, cb, cr))
