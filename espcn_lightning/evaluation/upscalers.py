"""What ``evaluate`` scores, one builder per option of the ``upscaler`` config group
(``conf/upscaler/``): a network, or the bicubic baseline."""

from __future__ import annotations

from dataclasses import dataclass

from espcn_lightning.core.degradations import Upscaler, bicubic_upscaler
from espcn_lightning.inference.engines import network_upscaler, pick_device
from espcn_lightning.inference.pretrained import default_model, load_model


@dataclass(frozen=True)
class Candidate:
    """An upscaler under evaluation: how it upscales, its name in the table, and its network's
    activation (None for bicubic), which picks the paper's row of the same activation."""

    upscale: Upscaler
    label: str
    activation: str | None = None

    @property
    def is_network(self) -> bool:
        """Whether a network upscales (it gets the results page and figures; bicubic does not)."""
        return self.activation is not None


def espcn(scale: int, checkpoint: str | None = None, device: str = "cpu") -> Candidate:
    """A shipped model or weights file, checked to be for ``scale``, in fp32 on ``device``."""
    name = checkpoint or default_model(scale)
    net = load_model(name, scale=scale).to(pick_device(device, "device"))
    return Candidate(network_upscaler(net), str(name), net.activation)


def bicubic(scale: int) -> Candidate:
    """MATLAB's bicubic imresize."""
    return Candidate(bicubic_upscaler(scale), "bicubic")
