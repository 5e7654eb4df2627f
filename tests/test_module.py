"""The LightningModule: optimiser parameter groups, schedules, and what it refuses to train."""

import pytest
import torch

from espcn_lightning.errors import ConfigError
from espcn_lightning.module import ESPCNModule
from espcn_lightning.network import ESPCN

NET = ESPCN(widths=(8, 4)).config() | {"_target_": "espcn_lightning.network.ESPCN"}
ADAM = {"_target_": "torch.optim.Adam", "lr": 0.01}


def ids(params):
    return sorted(id(p) for p in params)


def test_every_layer_learns_at_one_rate_by_default():
    module = ESPCNModule(net=NET, optimizer=ADAM)
    optimizer = module.configure_optimizers()
    (group,) = optimizer.param_groups
    assert group["lr"] == 0.01 and ids(group["params"]) == ids(module.net.parameters())


def test_the_last_layer_learns_at_its_own_rate_in_a_second_group():
    module = ESPCNModule(net=NET, optimizer=ADAM, last_layer_lr_scale=0.1)
    body, tail = module.configure_optimizers().param_groups
    assert body["lr"] == 0.01 and tail["lr"] == pytest.approx(0.001)
    assert ids(tail["params"]) == ids(module.net.tail.parameters())
    assert ids(body["params"]) == ids(module.net.body.parameters())


def test_a_plateau_schedule_steps_on_the_validation_loss_each_epoch():
    scheduler = {"_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau", "patience": 2}
    module = ESPCNModule(net=NET, optimizer=ADAM, scheduler=scheduler)
    configured = module.configure_optimizers()
    assert isinstance(
        configured["lr_scheduler"]["scheduler"], torch.optim.lr_scheduler.ReduceLROnPlateau
    )
    assert configured["lr_scheduler"]["monitor"] == "val/loss"
    assert configured["lr_scheduler"]["interval"] == "epoch"


def test_a_model_with_nothing_to_train_is_a_config_error():
    bicubic = {"_target_": "espcn_lightning.engines.bicubic_upscaler", "scale": 3}
    with pytest.raises(ConfigError, match="has nothing to train; use model=espcn"):
        ESPCNModule(net=bicubic, optimizer=ADAM)
