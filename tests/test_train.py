"""Hydra configs compose into the recipes they name, and training runs on real T91 images."""

import json

import pytest
import torch

from espcn_lightning import CONFIG_DIR
from espcn_lightning.core.errors import user_error
from espcn_lightning.core.network import ESPCN
from espcn_lightning.inference.pretrained import load_model
from espcn_lightning.train import build, score_key, train
from espcn_lightning.training.module import ESPCNModule, training_loss

CONF = CONFIG_DIR
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes(tmp_path, train_config, experiment):
    cfg = train_config(tmp_path, [f"experiment={experiment}"])
    assert (
        cfg.model.scale
        == cfg.scale
        == {"zoo_x2": 2, "zoo_x4": 4, "robust_x2": 2, "robust_x4": 4}.get(experiment, 3)
    )
    assert cfg.trainer.max_epochs >= 1


def test_the_group_defaults_are_the_default_recipe(tmp_path, train_config):
    cfg = train_config(tmp_path)
    assert cfg.model.activation == "relu" and cfg.data.stride == 7
    assert cfg.trainer.max_epochs == cfg.optim.scheduler.T_max == 300
    assert cfg.optim.optimizer.lr == 1e-3 and cfg.optim.last_layer_lr_scale == 1.0


def test_the_paper_experiment_uses_plateau_decay_and_a_slow_last_layer(tmp_path, train_config):
    cfg = train_config(tmp_path, ["experiment=paper_tanh"])
    assert cfg.optim.scheduler.threshold_mode == "abs"
    assert cfg.optim.last_layer_lr_scale == 0.1
    assert cfg.optim.optimizer.lr == 0.01 and cfg.optim.scheduler.min_lr == 1e-4
    assert cfg.model.activation == "tanh" and cfg.data.stride == 14


def test_the_seed_notebook_experiment_keeps_its_settings(tmp_path, train_config):
    cfg = train_config(tmp_path, ["experiment=seed_notebook"])
    assert cfg.degradation.kernel_size == 5
    assert (cfg.data.batch_size, cfg.data.val_fraction) == (16, 0.05)
    scheduler = cfg.optim.scheduler
    assert (scheduler.threshold, scheduler.factor, scheduler.patience) == (1e-6, 0.8, 1)


def test_the_lightning_module_is_built_from_its_config_group(tmp_path, train_config):
    cfg = train_config(tmp_path, ["model.activation=tanh", "image_every_n_epochs=3"])
    _, module, _ = build(cfg)
    assert isinstance(module, ESPCNModule) and module.net.activation == "tanh"
    assert module.hparams.optimizer == {"_target_": "torch.optim.Adam", "lr": 1e-3}
    assert module.hparams.image_every_n_epochs == 3


def test_fast_dev_run_trains_on_real_t91_images(tmp_path, train_config, data_dir):
    cfg = train_config(tmp_path, [f"paths.data_dir={data_dir}", "+trainer.fast_dev_run=2"])
    datamodule, module, trainer = build(cfg)
    before = [p.detach().clone() for p in module.parameters()]
    trainer.fit(module, datamodule=datamodule)
    assert any(not torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))
    assert torch.isfinite(trainer.callback_metrics["val/psnr"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("scale=0", "scale=0: use a whole upscaling factor of at least 2"),
        ("data.stride=0", "data.stride=0: use a whole number of at least 1"),
        ("data.patch_size=-3", "data.patch_size=-3: use a whole number of at least 1"),
        ("data.batch_size=0", "data.batch_size=0: use a whole number of at least 1"),
        ("data.val_fraction=2", "data.val_fraction=2: use a fraction in (0, 1)"),
        ("model.activation=foo", "model.activation='foo': choose tanh or relu"),
        ("module.loss=huber", "module.loss='huber': choose mse or l1"),
        ("model=espcn_rep model.branches=[diagonal]", "model.branches: diagonal unknown; choose"),
    ],
)
def test_impossible_sizes_are_refused_naming_the_option_before_any_data_is_read(
    tmp_path, train_config, override, message
):
    cfg = train_config(tmp_path, [f"paths.data_dir={tmp_path / 'nowhere'}", *override.split()])
    with pytest.raises(Exception) as info:
        build(cfg)
    assert str(user_error(info.value)).startswith(message)


def test_l1_training_switches_to_mse_at_mse_from_epoch(tmp_path, train_config):
    l1 = build(train_config(tmp_path, ["module.loss=l1"]))[1]
    assert l1.loss_kind() == "l1"
    switched = build(train_config(tmp_path, ["module.loss=l1", "module.mse_from_epoch=0"]))[1]
    assert switched.loss_kind() == "mse"
    lr, hr = torch.rand(2, 1, 5, 5), torch.rand(2, 9, 5, 5)
    sr = l1.net.forward_unshuffled(lr)
    assert torch.allclose(training_loss(l1.net, lr, hr, "l1"), (sr - hr).abs().mean())


def test_a_re_parameterised_ema_run_validates_saves_and_exports_the_folded_average(
    tmp_path, train_config, data_dir
):
    overrides = [
        f"paths.data_dir={data_dir}",
        "model=espcn_rep",
        "callbacks=ema",
        "experiment=smoke",
        "trainer.limit_train_batches=5",
        "report_sets=[]",
        "image_every_n_epochs=0",
    ]
    summary = train(train_config(tmp_path, overrides))
    checkpoint = torch.load(summary["best_checkpoint"], weights_only=True)
    averaged, current = checkpoint["state_dict"], checkpoint["current_model_state"]
    assert any(not torch.equal(averaged[k], current[k]) for k in averaged)
    exported = load_model(tmp_path / "model.pt")
    assert type(exported) is ESPCN and exported.branches == []
    assert "branches" not in json.loads((tmp_path / "model.json").read_text())["config"]
    net_config = checkpoint["hyper_parameters"]["net"]
    expanded = ESPCN(**{k: v for k, v in net_config.items() if k != "_target_"})
    expanded.load_state_dict({k[4:]: v for k, v in averaged.items() if k.startswith("net.")})
    x = torch.rand(1, 1, 20, 20)
    with torch.no_grad():
        assert (exported(x) - expanded.eval()(x)).abs().max() < 1e-5


def test_held_out_validation_images_are_reported_as_validation_and_test_sets_as_test():
    assert score_key("Set5") == "test/Set5_psnr"
    assert score_key("BSDS300_train/10") == "val/BSDS300_train_every_10_psnr"


def test_last_ckpt_holds_the_latest_epoch_even_when_validation_stopped_improving(
    tmp_path, train_config, data_dir
):
    overrides = [
        f"paths.data_dir={data_dir}",
        "experiment=smoke",
        "trainer.max_epochs=3",
        "optim.optimizer.lr=0",
        "optim.scheduler.eta_min=0",
        "report_sets=[]",
        "image_every_n_epochs=0",
    ]
    summary = train(train_config(tmp_path, overrides))
    assert summary["best_checkpoint"].endswith("best-epoch0000.ckpt"), "a frozen net never improves"
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["epoch"] == 2
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == [
        "best-epoch0000.ckpt",
        "last.ckpt",
    ]
