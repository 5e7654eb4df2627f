"""Reliability: resume after SIGKILL, NaN guard, determinism, bad configs, DDP on two processes."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from PIL import Image

from espcn_lightning.core.degradations import Bicubic, bicubic_upscaler
from espcn_lightning.core.errors import RunDirError, WeightsError
from espcn_lightning.evaluation.protocol import evaluate
from espcn_lightning.inference.pretrained import load_model
from espcn_lightning.training.checkpoints import check_checkpoint, resumed_step
from espcn_lightning.training.runs import RunState, plan

QUICK = [
    "experiment=smoke",
    "trainer.limit_val_batches=1",
    "report_sets=[]",
    "trainer.enable_progress_bar=false",
    "image_every_n_epochs=0",
]


def train_cmd(run_dir, data_dir, *overrides):
    return [
        sys.executable,
        "-m",
        "espcn_lightning.train",
        f"hydra.run.dir={run_dir}",
        f"paths.data_dir={data_dir}",
        *QUICK,
        *overrides,
    ]


def smoke_sweep_cmd(sweep_dir, data_dir, *overrides):
    """A smoke multirun into ``sweep_dir``, quick and quiet, as a user would type it."""
    return [
        sys.executable,
        "-m",
        "espcn_lightning.train",
        "-m",
        f"hydra.sweep.dir={sweep_dir}",
        f"paths.data_dir={data_dir}",
        *QUICK,
        *overrides,
    ]


def test_a_run_killed_mid_epoch_resumes_into_the_same_dir(
    tmp_path, data_dir, root, run, tensorboard_scalars
):
    run_dir = tmp_path / "run"
    epochs = ["trainer.max_epochs=6", "trainer.limit_train_batches=60"]
    process = subprocess.Popen(
        train_cmd(run_dir, data_dir, *epochs),
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        if last.exists() and torch.load(last, weights_only=True)["epoch"] >= 1:
            break
        time.sleep(0.1)
    time.sleep(0.3)
    assert process.poll() is None, "training ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = torch.load(last, weights_only=True)["epoch"]
    assert killed_at < 5

    resumed = run(train_cmd(run_dir, data_dir, *epochs, "ckpt_path=last"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    checkpoint = torch.load(last, weights_only=True)
    assert checkpoint["epoch"] == 5
    assert "optimizer_states" in checkpoint and checkpoint["lr_schedulers"]
    assert json.loads((run_dir / "summary.json").read_text())["epochs"] == 6
    steps = [e.step for e in tensorboard_scalars(run_dir, "val/psnr")]
    assert steps == sorted(set(steps)) and len(steps) == 6
    epochs = [int(e.value) for e in tensorboard_scalars(run_dir, "epoch")]
    assert sorted(set(epochs)) == list(range(6))
    load_model(last)


def test_a_non_finite_loss_stops_with_one_line_and_keeps_the_last_good_checkpoint(
    tmp_path, data_dir, run
):
    run_dir = tmp_path / "run"
    result = run(train_cmd(run_dir, data_dir, "trainer.max_epochs=3", "optim.optimizer.lr=inf"))
    assert result.returncode == 1
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "at epoch" in error[0] and "learning rate" in error[0]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed"
    for path in (run_dir / "checkpoints").glob("*.ckpt"):
        state = torch.load(path, weights_only=True)["state_dict"]
        assert all(torch.isfinite(v).all() for v in state.values())


@pytest.mark.slow  # make test-full: keeps make test under 10 minutes
def test_the_same_seed_gives_the_same_validation_psnr(tmp_path, data_dir, run):
    values = []
    for name in ("a", "b"):
        result = run(train_cmd(tmp_path / name, data_dir, "trainer.max_epochs=2", "seed=7"))
        assert result.returncode == 0, result.stderr[-2000:]
        values.append(json.loads((tmp_path / name / "summary.json").read_text())["best_val_psnr"])
    assert f"{values[0]:.6f}" == f"{values[1]:.6f}"


def test_an_unknown_config_key_is_named(tmp_path, data_dir, run):
    result = run(train_cmd(tmp_path / "run", data_dir, "trainer.max_epoch=3"))
    assert result.returncode != 0
    assert "max_epoch" in result.stderr


def test_a_missing_data_dir_ends_in_one_line(tmp_path, run):
    result = run(train_cmd(tmp_path / "run", tmp_path / "nowhere"))
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: data directory {tmp_path / 'nowhere'} does not exist")
    )


@pytest.mark.slow
def test_ddp_trains_on_two_cpu_processes_and_logs_once(
    tmp_path, data_dir, run, tensorboard_scalars
):
    run_dir = tmp_path / "ddp"
    result = run(
        train_cmd(
            run_dir, data_dir, "trainer=ddp", "trainer.accelerator=cpu", "trainer.max_epochs=2"
        )
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))) == 1
    steps = [e.step for e in tensorboard_scalars(run_dir, "val/psnr")]
    assert steps == sorted(set(steps))
    assert len(steps) == 2


def test_images_too_small_to_score_are_skipped_in_evaluation(tmp_path, caplog):
    folder = tmp_path / "Set5"
    folder.mkdir()
    for name in ("baby", "bird", "butterfly", "head"):  # a Set5 folder holds exactly its names
        image = np.random.randint(0, 255, (30, 30, 3), np.uint8)
        Image.fromarray(image).save(folder / f"{name}.png")
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(folder / "woman.png")
    result = evaluate(bicubic_upscaler(3), Bicubic(3), 3, tmp_path, ["Set5"])
    assert result["datasets"]["Set5"]["images"] == 4
    assert "woman.png: too small to score" in caplog.text


def test_training_never_overwrites_the_checkpoints_of_an_existing_run(
    tmp_path, data_dir, train_config
):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"precious")
    cfg = train_config(tmp_path, [f"paths.data_dir={data_dir}"])
    with pytest.raises(RunDirError, match="already holds a run .*; pass ckpt_path=last"):
        plan(RunState.read(tmp_path), cfg, [], multirun=False)
    assert (tmp_path / "checkpoints" / "last.ckpt").read_bytes() == b"precious"


def test_a_missing_checkpoint_is_refused_before_any_data_is_prepared(tmp_path, train_config):
    cfg = train_config(
        tmp_path, [f"paths.data_dir={tmp_path / 'nowhere'}", f"ckpt_path={tmp_path / 'no.ckpt'}"]
    )
    with pytest.raises(WeightsError, match="no.ckpt: no such checkpoint file; give ckpt_path=last"):
        check_checkpoint(cfg.ckpt_path, tmp_path / "checkpoints")


def test_a_truncated_last_checkpoint_names_the_intact_one(tmp_path, train_config):
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    ours = {"global_step": 30, "state_dict": {"net.tail.bias": torch.zeros(1000)}}
    torch.save({"epoch": 3, **ours}, checkpoints / "best-epoch0003.ckpt")
    torch.save({"epoch": 4, **ours}, checkpoints / "last.ckpt")
    whole = (checkpoints / "last.ckpt").read_bytes()
    (checkpoints / "last.ckpt").write_bytes(whole[: len(whole) // 2])
    cfg = train_config(tmp_path, [f"paths.data_dir={tmp_path / 'nowhere'}", "ckpt_path=last"])
    with pytest.raises(WeightsError) as info:
        check_checkpoint(cfg.ckpt_path, checkpoints)
    message = str(info.value)
    assert "last.ckpt is truncated or corrupt" in message
    assert f"intact: {checkpoints / 'best-epoch0003.ckpt'}" in message


def test_training_output_sent_to_a_file_has_one_plain_line_per_epoch(tmp_path, data_dir, run):
    cmd = [
        sys.executable,
        "-m",
        "espcn_lightning.train",
        f"hydra.run.dir={tmp_path / 'run'}",
        f"paths.data_dir={data_dir}",
        "experiment=smoke",
        "report_sets=[]",
        "image_every_n_epochs=0",
    ]
    result = run(cmd)
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert "\r" not in output
    epochs = [line for line in result.stdout.splitlines() if "epoch " in line]
    assert [line.split(" - ")[1].split(":")[0] for line in epochs] == ["epoch 1/2", "epoch 2/2"]
    assert "val/psnr" in epochs[-1]


def test_a_resume_drops_what_a_killed_run_logged_past_its_last_checkpoint(
    tmp_path, train_config, tensorboard_scalars
):
    (tmp_path / "checkpoints").mkdir()
    torch.save({"global_step": 120, "epoch": 1}, tmp_path / "checkpoints" / "last.ckpt")
    killed = TensorBoardLogger(tmp_path / "tensorboard", name="", version="")
    for step in (59, 119, 179):  # epoch 2 was logged, then the kill came before last.ckpt
        killed.log_metrics({"val/psnr": float(step)}, step=step)
    killed.finalize("killed")
    cfg = train_config(tmp_path, ["ckpt_path=last"])
    step = resumed_step(cfg)
    assert step == 120
    resumed = TensorBoardLogger(tmp_path / "tensorboard", name="", version="", purge_step=step)
    resumed.log_metrics({"val/psnr": 179.5}, step=179)
    resumed.finalize("success")
    events = tensorboard_scalars(tmp_path, "val/psnr")
    assert [(e.step, e.value) for e in events] == [(59, 59.0), (119, 119.0), (179, 179.5)]
