"""Colour: BT.601 studio-swing YCbCr as MATLAB's rgb2ycbcr / ycbcr2rgb, MATLAB's half-up rounding
to 8 bits, and upscaling a colour image (Y by an upscaler, CbCr bicubic, back to RGB)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from espcn_lightning.core.degradations import OPENCV_A, Upscaler, cubic

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


def _ycbcr_to_rgb8_matrix() -> np.ndarray:
    """The 3x4 float32 matrix that takes (Y in [0, 1], Cb, Cr) to RGB in [0, 255] plus a half."""
    inverse = np.linalg.inv(_RGB_TO_YCBCR.numpy()) * 255
    offset = 0.5 - (inverse @ _OFFSET.numpy())[:, None]
    matrix = inverse * np.array([255.0, 1.0, 1.0])
    return np.hstack([matrix, offset]).astype(np.float32)


_YCBCR_TO_RGB8 = _ycbcr_to_rgb8_matrix()


def ycbcr_to_rgb8(
    y: np.ndarray, cb: np.ndarray, cr: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """float32 planes, Y in [0, 1] (as the network gives it) and Cb, Cr in [0, 255], to uint8 RGB
    (into ``out`` if given): clamped, halves rounded up. One OpenCV pass does the scaling, the
    matrix and the half; the clamp is in place and the cast truncates, which after adding the half
    is rounding half up."""
    rgb = cv2.transform(cv2.merge([y, cb, cr]), _YCBCR_TO_RGB8)
    np.clip(rgb, 0, 255, out=rgb)
    if out is None:
        return rgb.astype(np.uint8)
    out[...] = rgb
    return out


#: LR rows of Cb/Cr enlarged, and converted to RGB, at a time: a band's float planes stay in the
#: CPU's caches instead of streaming two 1080p float planes and a merged copy through memory
#: (19.0 against 13.6 ms a 1080p x3 frame on one thread, same bytes out; docs: Speed).
BAND_ROWS = 32


def _phase_taps(scale: int) -> list[list[tuple[int, float]]]:
    """For each output phase k (output pixel r*i + k), its non-zero (tap, weight) pairs, tap t
    reading input i + t - 2."""
    taps: list[list[tuple[int, float]]] = [[] for _ in range(scale)]
    for k in range(scale):
        position = (k + 0.5) / scale - 0.5
        start = int(np.floor(position))
        for tap in range(-1, 3):
            offset = torch.tensor(position - start - tap, dtype=torch.float64)
            weight = float(np.float32(cubic(offset, OPENCV_A)))
            if weight:
                taps[k].append((start + tap + 2, weight))
    return taps


def _weighted_sum(
    source: torch.Tensor,
    dim: int,
    taps: list[tuple[int, float]],
    out: torch.Tensor,
    scratch: torch.Tensor,
) -> None:
    """``out`` = sum of weight * (``source`` shifted by tap along ``dim``) in tap order, each
    product rounded before it is added (no fused multiply-add), so every pixel's value is the same
    wherever it lies."""
    length = out.shape[dim]
    (first, weight), *rest = taps
    torch.mul(source.narrow(dim, first, length), weight, out=out)
    for tap, weight in rest:
        out.add_(torch.mul(source.narrow(dim, tap, length), weight, out=scratch))


def bicubic_bands(
    planes: np.ndarray, scale: int, rows: int = BAND_ROWS
) -> Iterator[tuple[int, Sequence[np.ndarray]]]:
    """float32 (h, w, C) planes enlarged as ``enlarge_bicubic`` does, ``rows`` LR rows at a time:
    yields (first LR row, its C planes of (r*n, r*w)), each band's buffers reused by the next."""
    if scale & (scale - 1) == 0:
        yield from _opencv_bands(planes, scale, rows)
        return
    taps = _phase_taps(scale)
    channels, height, width = planes.shape[2], planes.shape[0], planes.shape[1]
    lr = torch.from_numpy(np.ascontiguousarray(planes)).permute(2, 0, 1)[None]
    lr = F.pad(lr, (2, 2, 2, 2), mode="replicate")[0]
    for top in range(0, height, rows):
        count = min(rows, height - top)
        if top == 0 or count != rows:
            wide = torch.empty(channels, count + 4, width, scale)
            band = torch.empty(channels, count, scale, width * scale)
            wide_scratch = torch.empty(channels, count + 4, width)
            band_scratch = torch.empty(channels, count, width * scale)
        source = lr[:, top : top + count + 4]
        for k, phase in enumerate(taps):
            _weighted_sum(source, 2, phase, wide[..., k], wide_scratch)
        flat = wide.view(channels, count + 4, width * scale)
        for k, phase in enumerate(taps):
            _weighted_sum(flat, 1, phase, band[:, :, k], band_scratch)
        yield top, list(band.view(channels, count * scale, width * scale).numpy())


def _opencv_bands(
    planes: np.ndarray, scale: int, rows: int
) -> Iterator[tuple[int, list[np.ndarray]]]:
    """``bicubic_bands`` by ``cv2.resize``, for power-of-two factors only: there OpenCV's source
    coordinates are exact, so every output pixel gets the same weights wherever it lies. Each band
    is cut with the kernel's reach of real rows above and below, and only its own rows kept."""
    height, width = planes.shape[:2]
    lr = [np.ascontiguousarray(planes[..., c]) for c in range(planes.shape[2])]
    for top in range(0, height, rows):
        count = min(rows, height - top)
        start, stop = max(0, top - 2), min(height, top + count + 2)
        skip = (top - start) * scale
        size = (width * scale, (stop - start) * scale)
        yield (
            top,
            [
                cv2.resize(plane[start:stop], size, interpolation=cv2.INTER_CUBIC)[
                    skip : skip + count * scale
                ]
                for plane in lr
            ],
        )


def enlarge_bicubic(planes: np.ndarray, scale: int) -> np.ndarray:
    """float32 (h, w, C) planes to (C, r*h, r*w): OpenCV's INTER_CUBIC (a = -0.75, edges
    replicated) for an integer factor, to 0.002 of a level.

    At x2 and x4 this is ``cv2.resize`` (about 3x faster than the kernel below). At other factors
    it is written by hand (per output phase, a weighted sum of shifted views, each product rounded
    before it is added), because OpenCV computes each output pixel's weights from its absolute
    coordinate, inexact when 1/r is: at x3 a tile of an image would be enlarged slightly
    differently from the same pixels of the whole. Either way every pixel goes through the same
    operations on the same values, so a tile's pixels are bit for bit those of the whole image
    (``tiling.py`` relies on it).
    """
    _, whole = next(bicubic_bands(planes, scale, rows=max(1, planes.shape[0])))
    return np.stack(whole)


def upscale_rgb(rgb: np.ndarray, upscale: Upscaler, scale: int) -> np.ndarray:
    """Upscale a uint8 RGB (H, W, 3) or grey (H, W) image: Y by ``upscale``, CbCr bicubic.

    Colour work is float32 (conversions in one OpenCV pass each, CbCr as ``enlarge_bicubic``),
    band by band: ample for an 8-bit result and several times faster than the exact path on 1080p
    video.
    """
    if rgb.ndim == 2:
        sr = upscale(torch.from_numpy(rgb).to(torch.float32)[None, None] / 255.0)[0, 0]
        return round_half_up(sr.clamp(0, 1) * 255).to(torch.uint8).numpy()
    ycbcr = rgb8_to_ycbcr(rgb)
    y = upscale(torch.from_numpy(ycbcr[..., 0] / 255.0)[None, None])[0, 0].numpy()
    return restore_colour(y, ycbcr[..., 1:], scale)


def restore_colour(y: np.ndarray, chroma: np.ndarray, scale: int) -> np.ndarray:
    """The upscaled Y (float32, [0, 1]) and the LR Cb, Cr (float32 (h, w, 2)) to uint8 RGB: the
    chroma enlarged bicubic and converted with Y band by band (``BAND_ROWS``)."""
    out = np.empty((*y.shape, 3), np.uint8)
    for top, (cb, cr) in bicubic_bands(chroma, scale):
        rows = slice(top * scale, top * scale + cb.shape[0])
        ycbcr_to_rgb8(y[rows], cb, cr, out=out[rows])
    return out
