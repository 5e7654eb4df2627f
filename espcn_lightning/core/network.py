"""ESPCN: three convolutions in LR space and a sub-pixel (PixelShuffle) upscaling layer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from huggingface_hub import ModelCard, PyTorchModelHubMixin
from torch import nn

from espcn_lightning.core.errors import ConfigError
from espcn_lightning.core.reparam import RepConv2d

_ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


class ESPCN(
    nn.Module,
    PyTorchModelHubMixin,
    library_name="espcn-lightning",
    license="mit",
    pipeline_tag="image-to-image",
    tags=["super-resolution", "espcn"],
):
    """Shi et al. 2016: f1 x f1 x n1, f2 x f2 x n2, f3 x f3 x r^2, PixelShuffle; one channel (Y).

    Input and output are the studio-swing Y divided by 255; the network works on Y - 0.5 so that
    the tanh units start near their linear range. With ``branches`` (reparam.BRANCHES) each
    convolution trains as a sum of branches; ``fold()`` gives the plain network it equals.
    In the Hugging Face Hub's format (huggingface_hub's model mixin): ``save_pretrained(folder)``
    writes model.safetensors, config.json and a model card; ``ESPCN.from_pretrained(folder or
    repo id)`` reads them (strictly: a file of other shapes or extra keys is refused).
    """

    #: How the network was made (training data, recipe, scores, command, commit), for its card.
    provenance: dict

    def __init__(
        self,
        scale: int = 3,
        activation: str = "tanh",
        widths: tuple[int, int] = (64, 32),
        kernels: tuple[int, int, int] = (5, 3, 3),
        channels: int = 1,
        branches: Sequence[str] = (),
        expand: int = 2,
    ) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ConfigError(f"model.activation={activation!r}: choose tanh or relu")
        self.scale, self.activation = scale, activation
        self.branches, self.expand = list(branches), expand
        n1, n2 = widths
        f1, f2, f3 = kernels
        act = _ACTIVATIONS[activation]
        self.body = nn.Sequential(
            self._conv(channels, n1, f1), act(), self._conv(n1, n2, f2), act()
        )
        self.tail = self._conv(n2, channels * scale**2, f3)
        self.shuffle = nn.PixelShuffle(scale)
        self.provenance = {}
        self.reset_parameters()

    def _conv(self, in_channels: int, out_channels: int, size: int) -> nn.Module:
        """A 'same' convolution: plain, or trained as a sum of the configured branches."""
        if self.branches:
            return RepConv2d(in_channels, out_channels, size, self.branches, self.expand)
        return nn.Conv2d(in_channels, out_channels, size, padding=size // 2)

    def convs(self) -> list[nn.Conv2d]:
        """The three plain convolutions (of a re-parameterised network: its plain branches)."""
        layers = [m for m in self.body if not isinstance(m, nn.Tanh | nn.ReLU)] + [self.tail]
        return [m.conv if isinstance(m, RepConv2d) else m for m in layers]  # type: ignore[misc]

    def reset_parameters(self) -> None:
        """Orthogonal weights scaled for the activation, a small last layer, zero biases."""
        gain = nn.init.calculate_gain(self.activation)  # type: ignore[arg-type]
        *body, tail = self.convs()
        for conv in body:
            nn.init.orthogonal_(conv.weight, gain)
            nn.init.zeros_(conv.bias)  # type: ignore[arg-type]
        nn.init.orthogonal_(tail.weight, 0.1)
        nn.init.zeros_(tail.bias)  # type: ignore[arg-type]

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) LR in [0, 1] to (N, C, r*h, r*w) SR, not clamped."""
        return self.shuffle(self.tail(self.body(lr - 0.5))) + 0.5

    def forward_unshuffled(self, lr: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) LR to the (N, C r^2, h, w) output before PixelShuffle: training against
        pixel-unshuffled targets skips the shuffle and its backward (the paper's own trick)."""
        return self.tail(self.body(lr - 0.5)) + 0.5

    def config(self) -> dict:
        """The constructor arguments, enough to rebuild the network from a state dict (the
        branch settings only where there are branches, so a plain config stays the paper's)."""
        first, second, tail = self.convs()
        config = {
            "scale": self.scale,
            "activation": self.activation,
            "widths": [first.out_channels, second.out_channels],
            "kernels": [first.kernel_size[0], second.kernel_size[0], tail.kernel_size[0]],
            "channels": first.in_channels,
        }
        if self.branches:
            config.update(branches=list(self.branches), expand=self.expand)
        return config

    def generate_model_card(self, *args: Any, **kwargs: Any) -> ModelCard:
        """This network's card (``model_card``), which ``save_pretrained`` and ``push_to_hub``
        write beside the weights."""
        return ModelCard(model_card(self.config(), self.provenance))

    @classmethod
    def _from_pretrained(cls, *, model_id: str, strict: bool = True, **kwargs: Any) -> ESPCN:
        """The mixin's loading, always strict: weights of another shape or with extra keys are
        refused, never half-loaded."""
        return super()._from_pretrained(model_id=model_id, strict=True, **kwargs)

    @torch.no_grad()
    def fold(self) -> ESPCN:
        """The plain ESPCN this network equals (itself when it has no branches): every
        re-parameterised convolution folded into one, on the CPU in this network's dtype."""
        if not self.branches:
            return self
        config = {k: v for k, v in self.config().items() if k not in ("branches", "expand")}
        plain = ESPCN(**config).to(dtype=self.convs()[-1].weight.dtype)
        targets = plain.convs()
        layers = [m for m in self.body if isinstance(m, RepConv2d)] + [self.tail]
        for target, layer in zip(targets, layers, strict=True):
            folded = layer.folded()  # type: ignore[operator]
            target.weight.copy_(folded.weight)
            target.bias.copy_(folded.bias)  # type: ignore[union-attr]
        return plain


def rebuild(config: Mapping[str, Any], state: Mapping[str, torch.Tensor]) -> ESPCN:
    """The one way to rebuild or copy a network: a float32 CPU ESPCN from its config (keys that
    start with ``_``, like Hydra's ``_target_``, ignored) holding ``state``'s weights; a
    re-parameterised network comes back folded, as the plain ESPCN it deploys as."""
    net = ESPCN(**{k: v for k, v in config.items() if not k.startswith("_")})
    net.load_state_dict(state)
    return net.fold()


def robustness_section(gains: Mapping[str, Mapping[str, float]] | None) -> str:
    """The card's table of gains over bicubic (dB) per degradation and test set, if measured
    (``python -m espcn_lightning.robustness``)."""
    if not gains:
        return ""
    sets = list(next(iter(gains.values())))
    head = "| Degradation | " + " | ".join(sets) + " |\n|---|" + "---:|" * len(sets) + "\n"
    rows = "".join(
        f"| {name} | " + " | ".join(f"{row[s]:+.2f}" for s in sets) + " |\n"
        for name, row in gains.items()
    )
    return (
        "\nGain over bicubic on the same LR images (dB) when the LR image was made other ways "
        "(`conf/degradation/`):\n\n" + head + rows
    )


def model_card(config: Mapping[str, Any], provenance: Mapping[str, Any]) -> str:
    """A Hub model card for a network: what it is, its scores beside the paper's protocol, how it
    was trained (command, commit, data) and how to load it."""
    scale = config["scale"]
    scores = {
        key.split("/")[1].removesuffix("_psnr"): value
        for key, value in provenance.items()
        if key.startswith("test/") and isinstance(value, int | float)
    }
    rows = "".join(f"| {name} | {value:.2f} |\n" for name, value in scores.items())
    table = f"| Test set | PSNR (dB, Y) |\n|---|---:|\n{rows}" if rows else "Not scored yet.\n"
    table += robustness_section(provenance.get("robustness"))
    return f"""---
library_name: espcn-lightning
license: mit
pipeline_tag: image-to-image
tags: [super-resolution, espcn]
---

# ESPCN x{scale} ({config["activation"]})

ESPCN (Shi et al., CVPR 2016): three convolutions on the luma channel (studio-swing Y / 255) and a
sub-pixel layer, {config["widths"][0]}-{config["widths"][1]} channels, kernels
{"-".join(str(k) for k in config["kernels"])}; trained with espcn-lightning.

## Scores

The field's protocol (MATLAB bicubic degradation, Y channel, {scale} pixels shaved):

{table}
SuperTexture136, the paper's fifth test set, is not public and is not scored.

## Training

- Command: `{provenance.get("equivalent_now") or provenance.get("command", "unknown")}`
- Commit: `{provenance.get("commit", "unknown")}`; epochs: {provenance.get("epochs", "unknown")}
- Data: {provenance.get("data", "T91 (and BSDS300 train, for the _291 models), as the recipe says")}
- Licence: MIT (weights and code)

## Use

```python
from espcn_lightning import ESPCN, upscale_image

net = ESPCN.from_pretrained("FOLDER_OR_REPO_ID")  # Y / 255 in, Y / 255 out
upscale_image("photo.jpg", model="FOLDER").save("photo_x{scale}.png")
```
"""
