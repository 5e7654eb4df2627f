"""TensorBoard dashboards: the layout, the tuned hyperparameters, and no trial for runs that never
trained (the browser test looks at the same in TensorBoard itself)."""

import pytest
import torch
from hydra.utils import instantiate
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from espcn_lightning.core.degradations import imresize
from espcn_lightning.core.errors import DataError
from espcn_lightning.core.metrics import patch_psnr
from espcn_lightning.train import train
from espcn_lightning.training.dashboard import METRIC, PRUNED_METRIC, tuned_hparams
from espcn_lightning.training.module import ESPCNModule
from espcn_lightning.training.sweep_results import tensorboard_run

QUICK = [
    "experiment=smoke",
    "trainer.limit_val_batches=1",
    "report_sets=[]",
    "export_weights=false",
    "trainer.enable_progress_bar=false",
]


def events(run_dir):
    folder = tensorboard_run(run_dir) or run_dir / "tensorboard"
    accumulator = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    accumulator.Reload()
    return accumulator


def plugin_content(run_dir, plugin):
    """A run's summaries of one TensorBoard plugin by tag ({} when it wrote none)."""
    try:
        return events(run_dir).PluginTagToContent(plugin)
    except KeyError:
        return {}


def test_the_hyperparameters_are_what_a_user_tunes_not_callbacks_or_paths(tmp_path, train_config):
    hparams, chosen = tuned_hparams(train_config(tmp_path))
    assert hparams["model/activation"] == "relu" and hparams["data/batch_size"] == 16
    assert hparams["optim/optimizer"] == "Adam" and hparams["optim/optimizer/lr"] == 1e-3
    assert hparams["optim/scheduler"] == "CosineAnnealingLR"
    assert hparams["optim/scheduler/T_max"] == hparams["trainer/max_epochs"] == 300
    assert hparams["seed"] == 42 and hparams["data/train_sets"] == "['T91']"
    assert not [k for k in hparams if k.split("/")[0] in ("callbacks", "paths", "logger", "hydra")]
    assert "data/data_dir" not in hparams and chosen == set()


def test_keys_set_on_the_command_line_are_marked_to_come_first(tmp_path, train_config):
    overrides = [
        "experiment=smoke",
        "data.batch_size=8",
        "optim=paper",
        "paths.data_dir=/x",
        "trainer.enable_progress_bar=false",
        "+trainer.fast_dev_run=1",
    ]
    cfg = train_config(tmp_path, overrides)
    choices = {"experiment": "smoke", "optim": "paper", "hydra/launcher": "basic", "sweep": None}
    hparams, chosen = tuned_hparams(cfg, overrides, choices)
    assert chosen == {"experiment", "data/batch_size", "optim"}
    assert hparams["optim"] == "paper" and hparams["optim/scheduler"] == "ReduceLROnPlateau"
    assert hparams["optim/scheduler/patience"] == 4 and "sweep" not in hparams


def test_a_run_that_fails_before_training_declares_no_hyperparameters(tmp_path, train_config):
    cfg = train_config(tmp_path, [*QUICK, f"paths.data_dir={tmp_path / 'nowhere'}"])
    with pytest.raises(DataError):
        train(cfg)
    assert plugin_content(tmp_path, "hparams") == {}


def test_a_trained_run_declares_its_layout_hyperparameters_and_bicubic_baseline(
    tmp_path, train_config, data_dir
):
    cfg = train_config(tmp_path, [*QUICK, f"paths.data_dir={data_dir}"])
    summary = train(cfg)
    run = events(tmp_path)
    content = plugin_content(tmp_path, "hparams")
    experiment = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/experiment"]
    ).experiment
    assert [m.name.tag for m in experiment.metric_infos] == [METRIC, PRUNED_METRIC]
    assert {h.name for h in experiment.hparam_infos} >= {"data/batch_size", "optim/optimizer/lr"}
    assert "_hparams_/session_start_info" in content
    assert "custom_scalars__config__" in plugin_content(tmp_path, "custom_scalars")
    assert run.Scalars(METRIC)[-1].value == pytest.approx(summary["best_val_psnr"])
    datamodule = instantiate(cfg.data, degradation=instantiate(cfg.degradation))
    datamodule.setup()
    lr, hr = next(iter(datamodule.val_dataloader()))
    expected = patch_psnr(imresize(lr, 3), hr).mean()
    logged = [e.value for e in run.Scalars("val/bicubic_psnr")]
    assert len(logged) == 2 and logged[0] == logged[1]
    torch.testing.assert_close(torch.tensor(logged[0]), expected, atol=1e-3, rtol=0)


def test_the_best_validation_psnr_survives_a_checkpoint_so_a_resumed_run_reports_it(
    tmp_path, train_config
):
    cfg = train_config(tmp_path)
    build = {"net": cfg.model, "optimizer": cfg.optim.optimizer}
    trained, resumed = ESPCNModule(**build), ESPCNModule(**build)
    trained.best_val_psnr = 31.5
    checkpoint = {}
    trained.on_save_checkpoint(checkpoint)
    resumed.on_load_checkpoint(checkpoint)
    assert resumed.best_val_psnr == 31.5
