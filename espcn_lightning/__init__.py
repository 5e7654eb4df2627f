"""espcn-lightning: ESPCN super-resolution with Lightning and Hydra, measured as the field does."""

from espcn_lightning.network import ESPCN
from espcn_lightning.pretrained import load_model

__all__ = ["ESPCN", "load_model"]
__version__ = "0.1.0"
