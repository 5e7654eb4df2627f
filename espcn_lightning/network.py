"""ESPCN: three convolutions in LR space and a sub-pixel (PixelShuffle) upscaling layer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from espcn_lightning.errors import ConfigError

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


class ESPCN(nn.Module):
    """Shi et al. 2016: f1 x f1 x n1, f2 x f2 x n2, f3 x f3 x r^2, PixelShuffle; one channel (Y).

    Input and output are the studio-swing Y divided by 255; the network works on Y - 0.5 so that
    the tanh units start near their linear range.
    """

    def __init__(
        self,
        scale: int = 3,
        activation: str = "tanh",
        widths: tuple[int, int] = (64, 32),
        kernels: tuple[int, int, int] = (5, 3, 3),
        channels: int = 1,
    ) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ConfigError(f"model.activation={activation!r}: choose tanh or relu")
        self.scale, self.activation = scale, activation
        n1, n2 = widths
        f1, f2, f3 = kernels
        act = _ACTIVATIONS[activation]
        self.body = nn.Sequential(
            nn.Conv2d(channels, n1, f1, padding=f1 // 2),
            act(),
            nn.Conv2d(n1, n2, f2, padding=f2 // 2),
            act(),
        )
        self.tail = nn.Conv2d(n2, channels * scale**2, f3, padding=f3 // 2)
        self.shuffle = nn.PixelShuffle(scale)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Orthogonal weights scaled for the activation, a small last layer, zero biases."""
        gain = nn.init.calculate_gain(self.activation)  # type: ignore[arg-type]
        for conv in self.body:
            if isinstance(conv, nn.Conv2d):
                nn.init.orthogonal_(conv.weight, gain)
                nn.init.zeros_(conv.bias)  # type: ignore[arg-type]
        nn.init.orthogonal_(self.tail.weight, 0.1)
        nn.init.zeros_(self.tail.bias)  # type: ignore[arg-type]

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) LR in [0, 1] to (N, C, r*h, r*w) SR, not clamped."""
        return self.shuffle(self.tail(self.body(lr - 0.5))) + 0.5

    def forward_unshuffled(self, lr: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) LR to the (N, C r^2, h, w) output before PixelShuffle: training against
        pixel-unshuffled targets skips the shuffle and its backward (the paper's own trick)."""
        return self.tail(self.body(lr - 0.5)) + 0.5

    def config(self) -> dict:
        """The constructor arguments, enough to rebuild the network from a state dict."""
        body = [m for m in self.body if isinstance(m, nn.Conv2d)]
        return {
            "scale": self.scale,
            "activation": self.activation,
            "widths": [body[0].out_channels, body[1].out_channels],
            "kernels": [body[0].kernel_size[0], body[1].kernel_size[0], self.tail.kernel_size[0]],
            "channels": body[0].in_channels,
        }


def rebuild(config: Mapping[str, Any], state: Mapping[str, torch.Tensor]) -> ESPCN:
    """The one way to rebuild or copy a network: a float32 CPU ESPCN from its config (keys that
    start with ``_``, like Hydra's ``_target_``, ignored) holding ``state``'s weights."""
    net = ESPCN(**{k: v for k, v in config.items() if not k.startswith("_")})
    net.load_state_dict(state)
    return net
