"""BT.601 studio-swing YCbCr conversions, matching MATLAB's rgb2ycbcr and ycbcr2rgb."""

from __future__ import annotations

import cv2
import numpy as np
import torch

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


def round_half_up(x: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Round non-negative values as MATLAB's uint8 casts do (halves go up, not to even)."""
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


def ycbcr_to_rgb8(ycbcr: np.ndarray) -> np.ndarray:
    """float32 YCbCr in [0, 255], channels last, back to uint8 RGB: clamped, halves rounded up."""
    inverse = np.linalg.inv(_RGB_TO_YCBCR.numpy()) * 255
    offset = -(inverse @ _OFFSET.numpy())[:, None]
    rgb = cv2.transform(ycbcr, np.hstack([inverse, offset]).astype(np.float32))
    return (np.clip(rgb, 0, 255) + 0.5).astype(np.uint8)
