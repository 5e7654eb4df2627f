"""espcn-lightning: ESPCN super-resolution with Lightning and Hydra, measured as the field does.

The package in layers, each importing only from those below it: ``core`` (the method), then
``datasets`` and ``inference``, then ``evaluation`` and ``training``, and on top the command-line
apps (``train``, ``evaluate``, ``upscale``, ``export``, ``report``, ``data``). Their Hydra configs
ship in ``conf/`` (``CONFIG_DIR``), the pretrained weights in ``weights/``.
"""

from pathlib import Path

from espcn_lightning.core.network import ESPCN
from espcn_lightning.inference.pretrained import load_model
from espcn_lightning.inference.upscaling import upscale_image, upscale_video

#: The Hydra configs of ``train`` and ``evaluate``; add your own beside them with ``--config-dir``.
CONFIG_DIR = Path(__file__).parent / "conf"

__all__ = ["CONFIG_DIR", "ESPCN", "load_model", "upscale_image", "upscale_video"]
__version__ = "0.1.0"
