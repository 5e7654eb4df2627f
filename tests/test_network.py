"""ESPCN itself: shapes, its config, and the one way to rebuild or copy it."""

import pytest
import torch

from espcn_lightning.core.errors import ConfigError
from espcn_lightning.core.network import ESPCN, rebuild


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_network_upscales_by_its_scale(scale):
    net = ESPCN(scale=scale, widths=(8, 4))
    assert net(torch.rand(2, 1, 7, 9)).shape == (2, 1, 7 * scale, 9 * scale)


def test_a_rebuilt_network_has_the_same_config_and_output():
    net = ESPCN(scale=2, activation="relu", widths=(8, 4), kernels=(3, 3, 3))
    copy = rebuild(
        net.config() | {"_target_": "espcn_lightning.core.network.ESPCN"}, net.state_dict()
    )
    x = torch.rand(1, 1, 6, 5)
    assert copy.config() == net.config()
    assert torch.equal(copy(x), net(x))


def test_an_unknown_activation_is_a_config_error():
    with pytest.raises(ConfigError, match="model.activation='gelu': choose tanh or relu"):
        ESPCN(activation="gelu")
