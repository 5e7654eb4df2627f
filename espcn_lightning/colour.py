"""Colour: BT.601 studio-swing YCbCr as MATLAB's rgb2ycbcr / ycbcr2rgb, MATLAB's half-up rounding
to 8 bits, and upscaling a colour image (Y by an upscaler, CbCr bicubic, back to RGB)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import cv2
import numpy as np
import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from espcn_lightning.engines import Upscaler

Array = TypeVar("Array", np.ndarray, torch.Tensor)

_RGB_TO_YCBCR = torch.tensor(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]],
    dtype=torch.float64,
)
_OFFSET = torch.tensor([16.0, 128.0, 128.0], dtype=torch.float64)


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1], channels at dim -3, to YCbCr in [0, 255] (Y in [16, 235]), unrounded."""
    matrix = _RGB_TO_YCBCR.to(rgb.device, rgb.dtype)
    offset = _OFFSET.to(rgb.device, rgb.dtype).view(3, 1, 1)
    return torch.einsum("ij,...jhw->...ihw", matrix, rgb) + offset


def ycbcr_to_rgb(ycbcr: torch.Tensor) -> torch.Tensor:
    """YCbCr in [0, 255], channels at dim -3, back to RGB in [0, 1] (not clamped)."""
    inverse = torch.linalg.inv(_RGB_TO_YCBCR).to(ycbcr.device, ycbcr.dtype)
    offset = _OFFSET.to(ycbcr.device, ycbcr.dtype).view(3, 1, 1)
    return torch.einsum("ij,...jhw->...ihw", inverse, ycbcr - offset)


def round_half_up(x: Array) -> Array:
    """Round non-negative values as MATLAB's uint8 casts do (halves go up, not to even): the one
    rounding rule of the project, for Y, 8-bit outputs, metrics and 16-bit images alike."""
    return np.floor(x + 0.5) if isinstance(x, np.ndarray) else torch.floor(x + 0.5)


def luma(image: np.ndarray) -> np.ndarray:
    """The uint8 Y channel of a uint8 RGB image; a grey (H, W) image is taken as Y as it is."""
    if image.ndim == 2:
        return image
    rgb = torch.from_numpy(image).to(torch.float64).permute(2, 0, 1) / 255.0
    y = rgb_to_ycbcr(rgb)[0]
    return round_half_up(y).clamp(0, 255).to(torch.uint8).numpy()


def rgb8_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) to float32 YCbCr in [0, 255], channels last, in one OpenCV pass:
    the fast path for upscaling photos and video (evaluation uses the exact torch one)."""
    matrix, offset = _RGB_TO_YCBCR.numpy() / 255, _OFFSET.numpy()[:, None]
    return cv2.transform(rgb.astype(np.float32), np.hstack([matrix, offset]).astype(np.float32))


def ycbcr_to_rgb8(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """float32 planes, Y in [0, 1] (as the network gives it) and Cb, Cr in [0, 255], to uint8 RGB:
    clamped, halves rounded up. One OpenCV pass does the scaling, the matrix and the half; the
    clamp is in place and the cast truncates, which after adding the half is rounding half up."""
    inverse = np.linalg.inv(_RGB_TO_YCBCR.numpy()) * 255
    offset = 0.5 - (inverse @ _OFFSET.numpy())[:, None]
    matrix = inverse * np.array([255.0, 1.0, 1.0])
    rgb = cv2.transform(cv2.merge([y, cb, cr]), np.hstack([matrix, offset]).astype(np.float32))
    np.clip(rgb, 0, 255, out=rgb)
    return rgb.astype(np.uint8)


def _cubic(x: float, a: float = -0.75) -> float:
    """The cubic convolution kernel (Keys) with OpenCV's a = -0.75."""
    x = abs(x)
    if x <= 1:
        return ((a + 2) * x - (a + 3)) * x * x + 1
    return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a if x < 2 else 0.0


def _phase_weights(scale: int) -> torch.Tensor:
    """(scale, 5) float32 taps: row k makes output pixel r*i + k from inputs i-2 .. i+2."""
    weights = torch.zeros(scale, 5, dtype=torch.float64)
    for k in range(scale):
        position = (k + 0.5) / scale - 0.5
        start = int(np.floor(position))
        for tap in range(-1, 3):
            weights[k, start + tap + 2] = _cubic(position - start - tap)
    return weights.float()


def enlarge_bicubic(planes: np.ndarray, scale: int) -> np.ndarray:
    """float32 (h, w, C) planes to (C, r*h, r*w): OpenCV's INTER_CUBIC (a = -0.75, edges
    replicated) for an integer factor, to 0.002 of a level, at about its speed.

    Written by hand (per output phase, a weighted sum of shifted views, each product rounded before
    it is added) rather than ``cv2.resize``, because OpenCV rounds each output pixel's weights from
    its absolute coordinate: a tile of an image would be enlarged slightly differently from the
    same pixels of the whole. Here every pixel goes through the same operations on the same values,
    so a tile's pixels are bit for bit those of the whole image (``tiling.py`` relies on it).
    """
    weights = _phase_weights(scale).tolist()
    channels, height, width = planes.shape[2], planes.shape[0], planes.shape[1]
    lr = torch.from_numpy(planes).permute(2, 0, 1)[None]
    lr = F.pad(lr, (2, 2, 2, 2), mode="replicate")[0]
    wide = torch.zeros(channels, height + 4, width, scale)
    product = torch.empty(channels, height + 4, width)
    for k, taps in enumerate(weights):
        for t, weight in enumerate(taps):
            if weight:
                wide[..., k].add_(torch.mul(lr[..., t : t + width], weight, out=product))
    wide = wide.view(channels, height + 4, width * scale)
    out = torch.zeros(channels, height, scale, width * scale)
    product = torch.empty(channels, height, width * scale)
    for k, taps in enumerate(weights):
        for t, weight in enumerate(taps):
            if weight:
                out[:, :, k].add_(torch.mul(wide[:, t : t + height], weight, out=product))
    return out.view(channels, height * scale, width * scale).numpy()


def upscale_rgb(rgb: np.ndarray, upscale: Upscaler, scale: int) -> np.ndarray:
    """Upscale a uint8 RGB (H, W, 3) or grey (H, W) image: Y by ``upscale``, CbCr bicubic.

    Colour work is float32 (conversions in one OpenCV pass each, CbCr by ``enlarge_bicubic``):
    ample for an 8-bit result and several times faster than the exact path on 1080p video.
    """
    if rgb.ndim == 2:
        sr = upscale(torch.from_numpy(rgb).to(torch.float32)[None, None] / 255.0)[0, 0]
        return round_half_up(sr.clamp(0, 1) * 255).to(torch.uint8).numpy()
    ycbcr = rgb8_to_ycbcr(rgb)
    y = upscale(torch.from_numpy(ycbcr[..., 0] / 255.0)[None, None])[0, 0].numpy()
    cb, cr = enlarge_bicubic(ycbcr[..., 1:], scale)
    return ycbcr_to_rgb8(y, cb, cr)
