"""Re-parameterised training: a network trained as sums of branches folds into the plain ESPCN,
which computes the same function and loads, exports and deploys as the paper's network."""

import pytest
import torch
from torch import nn

from espcn_lightning.core.errors import ConfigError
from espcn_lightning.core.network import ESPCN
from espcn_lightning.core.reparam import BRANCHES, RepConv2d
from espcn_lightning.inference.pretrained import load_model, save_weights

ALL = list(BRANCHES)


def jittered(module: nn.Module, seed: int = 0, noise: float = 0.1) -> nn.Module:
    """``module`` with every parameter moved by noise, so no branch is near zero."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * noise)
    return module


@pytest.mark.parametrize("branch", ALL)
@pytest.mark.parametrize("size", [3, 5])
def test_each_branch_folds_into_one_convolution_exactly_up_to_the_borders(branch, size):
    layer = jittered(RepConv2d(4, 6, size, [branch]))
    x = torch.rand(2, 4, 11, 9)
    with torch.no_grad():
        assert torch.allclose(layer.folded()(x), layer.branch_sum(x), atol=1e-5)


def test_training_through_the_fused_weight_gives_the_branch_by_branch_gradients():
    layer = jittered(RepConv2d(3, 5, 3, ALL)).double()
    x = torch.rand(2, 3, 9, 8, dtype=torch.float64)
    target = torch.rand(2, 5, 9, 8, dtype=torch.float64)
    grads = []
    for forward in (layer, layer.branch_sum):
        layer.zero_grad()
        ((forward(x) - target) ** 2).mean().backward()
        grads.append([p.grad.clone() for p in layer.parameters()])
    for fused, branch_by_branch in zip(*grads, strict=True):
        assert torch.allclose(fused, branch_by_branch, atol=1e-12)


def test_a_folded_network_is_the_same_function_as_the_branched_one():
    net = jittered(ESPCN(scale=3, activation="relu", branches=ALL), seed=1).double().eval()
    x = torch.rand(3, 1, 23, 31, dtype=torch.float64)
    with torch.no_grad():
        assert (net.fold()(x) - net(x)).abs().max() < 1e-10


def test_a_folded_network_matches_the_branched_one_to_1e_5_in_float32_on_random_input():
    net = jittered(ESPCN(scale=3, activation="relu", branches=ALL), seed=1, noise=0.01).eval()
    plain = net.fold()
    x = torch.rand(3, 1, 23, 31)
    with torch.no_grad():
        out = net(x)
        assert out.abs().max() < 4, "outputs in a trained network's range, not blown up"
        assert (plain(x) - out).abs().max() < 1e-5
    assert all(type(m) is nn.Conv2d for m in plain.convs())
    assert plain.config() == ESPCN(scale=3, activation="relu").config()


def test_folding_keeps_the_paper_network_shape_and_parameter_count():
    paper = ESPCN(scale=3, activation="relu")
    branched = ESPCN(scale=3, activation="relu", branches=ALL)
    count = sum(p.numel() for p in paper.parameters())
    assert sum(p.numel() for p in branched.parameters()) > 2 * count
    assert sum(p.numel() for p in branched.fold().parameters()) == count
    assert paper.fold() is paper


def test_a_branched_model_loads_with_load_model_as_a_plain_espcn(tmp_path):
    net = jittered(ESPCN(scale=2, activation="relu", branches=["expand", "sobel_x"]), noise=0.01)
    net = net.eval()
    path = save_weights(net, tmp_path / "rep.pt")
    loaded = load_model(path, scale=2)
    assert type(loaded) is ESPCN and loaded.branches == []
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        assert (loaded(x) - net(x)).abs().max() < 1e-5


def test_an_unknown_branch_is_a_config_error_naming_the_choices():
    with pytest.raises(ConfigError, match="model.branches: diagonal unknown; choose from expand"):
        ESPCN(branches=["diagonal"])
