"""Hydra configs compose, and training runs end to end on real T91 images."""

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict

from espcn_lightning.datamodule import SRDataModule, dihedral
from espcn_lightning.degradations import GaussianBlur
from espcn_lightning.train import build

CONF = Path(__file__).resolve().parents[1] / "conf"
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def train_config(tmp_path, overrides=()):
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=list(overrides), return_hydra_config=False)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
    return cfg


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes(tmp_path, experiment):
    cfg = train_config(tmp_path, [f"experiment={experiment}"])
    assert cfg.model.scale == cfg.scale == 3
    assert cfg.trainer.max_epochs >= 1


def test_the_paper_experiment_uses_plateau_decay_and_a_slow_last_layer(tmp_path):
    cfg = train_config(tmp_path, ["experiment=paper_tanh"])
    assert cfg.optim.scheduler.threshold_mode == "abs"
    assert cfg.optim.last_layer_lr_scale == 0.1
    assert cfg.optim.optimizer.lr == 0.01 and cfg.optim.scheduler.min_lr == 1e-4


def test_the_seed_notebook_experiment_keeps_its_settings(tmp_path):
    cfg = train_config(tmp_path, ["experiment=seed_notebook"])
    assert cfg.degradation.kernel_size == 5
    assert (cfg.data.batch_size, cfg.data.val_fraction) == (16, 0.05)
    scheduler = cfg.optim.scheduler
    assert (scheduler.threshold, scheduler.factor, scheduler.patience) == (1e-6, 0.8, 1)


def test_fast_dev_run_trains_on_real_t91_images(tmp_path, data_dir):
    cfg = train_config(tmp_path, [f"paths.data_dir={data_dir}", "+trainer.fast_dev_run=2"])
    datamodule, module, trainer = build(cfg)
    before = [p.detach().clone() for p in module.parameters()]
    trainer.fit(module, datamodule=datamodule)
    assert any(not torch.equal(a, b) for a, b in zip(before, module.parameters(), strict=True))
    assert torch.isfinite(trainer.callback_metrics["val/psnr"])


def test_patches_are_aligned_lr_hr_pairs(data_dir):
    dm = SRDataModule(str(data_dir), degradation=GaussianBlur(3), augment=False, val_fraction=0.05)
    dm.setup()
    lr, hr = dm.train_set[0]
    assert lr.shape == (1, 17, 17) and hr.shape == (1, 51, 51)
    inner = (..., slice(1, -1), slice(1, -1))
    torch.testing.assert_close(GaussianBlur(3)(hr.double()).float()[inner], lr[inner])
    assert len(dm.val_set) == round((len(dm.train_set) + len(dm.val_set)) * 0.05)


def test_the_split_is_fixed_by_the_seed(data_dir):
    def val_patch(seed):
        dm = SRDataModule(str(data_dir), augment=False, seed=seed)
        dm.setup()
        return dm.val_set[0][0]

    assert torch.equal(val_patch(1), val_patch(1))
    assert not torch.equal(val_patch(1), val_patch(2))


def test_dihedral_transforms_are_the_eight_distinct_symmetries():
    image = torch.arange(9.0).reshape(1, 3, 3)
    variants = {tuple(dihedral(image, k).flatten().tolist()) for k in range(8)}
    assert len(variants) == 8
