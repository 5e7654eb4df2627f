"""The LightningModule: optimiser parameter groups, schedules, what it refuses to train, the
pre-shuffled loss (the PixelShuffle loss), and validation in fp32 under bf16 training."""

import lightning as L
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from espcn_lightning.core.errors import ConfigError
from espcn_lightning.core.metrics import patch_psnr
from espcn_lightning.core.network import ESPCN
from espcn_lightning.training.module import ESPCNModule, training_loss

NET = ESPCN(widths=(8, 4)).config() | {"_target_": "espcn_lightning.core.network.ESPCN"}
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
    bicubic = {"_target_": "espcn_lightning.core.degradations.bicubic_upscaler", "scale": 3}
    with pytest.raises(ConfigError, match="has nothing to train; use model=espcn"):
        ESPCNModule(net=bicubic, optimizer=ADAM)


def relu_module():
    torch.manual_seed(0)
    return ESPCNModule(
        net=ESPCN(activation="relu").config() | {"_target_": "espcn_lightning.core.network.ESPCN"},
        optimizer={"_target_": "torch.optim.Adam", "lr": 1e-3},
        image_every_n_epochs=0,
    )


def loss_and_grads(net, lr, hr):
    net.zero_grad()
    loss = training_loss(net, lr, hr)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in net.parameters()]


def test_the_loss_on_unshuffled_targets_equals_the_pixelshuffle_loss_and_its_gradients():
    net = relu_module().net
    lr, hr = torch.rand(6, 1, 9, 9), torch.rand(6, 1, 27, 27)
    shuffled_loss, shuffled_grads = loss_and_grads(net, lr, hr)
    unshuffled_loss, unshuffled_grads = loss_and_grads(net, lr, F.pixel_unshuffle(hr, 3))
    torch.testing.assert_close(unshuffled_loss, shuffled_loss)
    torch.testing.assert_close(shuffled_loss, F.mse_loss(net(lr), hr))
    for a, b in zip(unshuffled_grads, shuffled_grads, strict=True):
        torch.testing.assert_close(a, b)


def test_validation_scores_the_fp32_network_under_bf16_mixed_training():
    module = relu_module()
    lr, hr = torch.rand(32, 1, 9, 9), torch.rand(32, 1, 27, 27)
    trainer = L.Trainer(
        accelerator="cpu",
        precision="bf16-mixed",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.validate(module, DataLoader(TensorDataset(lr, hr), batch_size=32), verbose=False)
    with torch.no_grad():
        fp32 = patch_psnr(module.net(lr), hr).mean()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = patch_psnr(module.net(lr).float(), hr).mean()
    assert float(trainer.callback_metrics["val/psnr"]) == float(fp32)
    assert float(bf16) != float(fp32)
