"""Structural re-parameterisation: a convolution trained as a sum of branches, folded into one.

In the manner of RepVGG and ECBSR (Zhang et al. 2021, "Edge-oriented Convolution Block for
Real-time Super Resolution on Mobile Devices"): during training a k x k convolution is the sum of
the plain k x k convolution and branches that are themselves linear (a 1x1 expansion then k x k; a
1x1 then a fixed Sobel or Laplacian filter with learned per-channel scales). A sum of linear maps is
one linear map, so after training the branches fold into a single k x k convolution with the same
output to rounding: the deployed network, its FLOPs and its ONNX graph are the plain one's.

Each branch's 1x1 output is padded with its own bias rather than zeros, so the fold is exact at the
borders too (ECBSR's trick). Identity branches need equal input and output channels, which no ESPCN
layer has (1 -> 64 -> 32 -> r^2), so there are none.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from espcn_lightning.core.errors import ConfigError

_EDGE_MASKS = {
    "sobel_x": [[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]],
    "sobel_y": [[1.0, 2.0, 1.0], [0.0, 0.0, 0.0], [-1.0, -2.0, -1.0]],
    "laplacian": [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]],
}
BRANCHES = ("expand", *_EDGE_MASKS)


def pad_with(x: torch.Tensor, value: torch.Tensor, pad: int) -> torch.Tensor:
    """Pad (N, C, h, w) by ``pad`` on every side with each channel's own ``value`` (C,)."""
    if pad == 0:
        return x
    padded = F.pad(x, (pad, pad, pad, pad))
    fill = value.view(1, -1, 1, 1).to(x.dtype)
    padded[..., :pad, :] = fill
    padded[..., -pad:, :] = fill
    padded[..., :, :pad] = fill
    padded[..., :, -pad:] = fill
    return padded


def edge_mask(name: str, size: int) -> torch.Tensor:
    """The 3x3 ``name`` filter centred in a ``size`` x ``size`` kernel (zeros around it)."""
    mask = torch.zeros(size, size)
    start = size // 2 - 1
    mask[start : start + 3, start : start + 3] = torch.tensor(_EDGE_MASKS[name])
    return mask


class ExpandBranch(nn.Module):
    """A 1x1 convolution to ``mid`` channels, then the k x k one: a learned low-rank detour."""

    def __init__(self, in_channels: int, out_channels: int, size: int, mid: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(in_channels, mid, 1)
        self.conv = nn.Conv2d(mid, out_channels, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The branch's output, same size as ``x`` (padded with the 1x1 bias)."""
        pad = self.conv.kernel_size[0] // 2
        return self.conv(pad_with(self.reduce(x), self.reduce.bias, pad))  # type: ignore[arg-type]

    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The one k x k weight and bias equal to this branch."""
        w1 = self.reduce.weight[:, :, 0, 0]  # (mid, in)
        weight = torch.einsum("omhw,mi->oihw", self.conv.weight, w1)
        inner = torch.einsum("omhw,m->o", self.conv.weight, self.reduce.bias)
        return weight, cast(torch.Tensor, self.conv.bias) + inner


class EdgeBranch(nn.Module):
    """A 1x1 convolution, then a fixed edge filter per channel with a learned scale and bias."""

    mask: torch.Tensor

    def __init__(self, in_channels: int, out_channels: int, size: int, filter_name: str) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(in_channels, out_channels, 1)
        self.scale = nn.Parameter(torch.randn(out_channels, 1, 1, 1) * 1e-3)
        self.bias = nn.Parameter(torch.randn(out_channels) * 1e-3)
        self.register_buffer("mask", edge_mask(filter_name, size).expand(1, 1, size, size).clone())

    def depthwise(self) -> torch.Tensor:
        """The per-channel filter: (C, 1, k, k), each channel's mask times its scale."""
        return self.scale * self.mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The branch's output, same size as ``x`` (padded with the 1x1 bias)."""
        pad = self.mask.shape[-1] // 2
        y = pad_with(self.reduce(x), self.reduce.bias, pad)  # type: ignore[arg-type]
        return F.conv2d(y, self.depthwise(), self.bias, groups=y.shape[1])

    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The one k x k weight and bias equal to this branch."""
        depthwise = self.depthwise()  # (out, 1, k, k)
        weight = depthwise * self.reduce.weight  # (out, 1, k, k) * (out, in, 1, 1)
        bias = self.bias + self.reduce.bias * depthwise.sum(dim=(1, 2, 3))  # type: ignore[operator]
        return weight, bias


class RepConv2d(nn.Module):
    """A k x k convolution (stride 1, 'same' padding) trained as the plain one plus ``branches``;
    ``folded()`` gives the single convolution it equals.

    The expand branch is ``expand`` times the narrower side wide: as wide as the wider side would
    make ESPCN's first layer (1 -> 64, 5x5) cost 9 times the whole network to train.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        size: int,
        branches: Sequence[str],
        expand: int = 2,
    ) -> None:
        super().__init__()
        unknown = [b for b in branches if b not in BRANCHES]
        if unknown:
            raise ConfigError(
                f"model.branches: {', '.join(unknown)} unknown; choose from {', '.join(BRANCHES)}"
            )
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = (size, size)
        self.conv = nn.Conv2d(in_channels, out_channels, size, padding=size // 2)
        mid = expand * min(in_channels, out_channels)
        self.branches = nn.ModuleList(
            ExpandBranch(in_channels, out_channels, size, mid)
            if name == "expand"
            else EdgeBranch(in_channels, out_channels, size, name)
            for name in branches
        )

    def fused(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The one weight and bias this sum of branches equals, computed differentiably from
        the branches' parameters."""
        weight, bias = self.conv.weight, cast(torch.Tensor, self.conv.bias)
        for branch in self.branches:
            w, b = branch.folded()  # type: ignore[operator]
            weight, bias = weight + w, bias + b
        return weight, bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The sum of the plain convolution and every branch, computed as one convolution with
        the fused weight (OREPA's online re-parameterisation): the same function of the same
        parameters, so the same gradients, at about the plain convolution's cost."""
        weight, bias = self.fused()
        return F.conv2d(x, weight, bias, padding=self.kernel_size[0] // 2)

    def branch_sum(self, x: torch.Tensor) -> torch.Tensor:
        """The same output branch by branch, as the definition reads (for tests)."""
        out = self.conv(x)
        for branch in self.branches:
            out = out + branch(x)
        return out

    @torch.no_grad()
    def folded(self) -> nn.Conv2d:
        """The plain convolution equal to this sum of branches (a new module)."""
        weight, bias = self.fused()
        size = self.kernel_size[0]
        conv = nn.Conv2d(
            self.in_channels, self.out_channels, size, padding=size // 2, dtype=weight.dtype
        )
        conv.weight.copy_(weight)
        conv.bias.copy_(bias)  # type: ignore[union-attr]
        return conv
