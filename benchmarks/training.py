"""Training speed: the recipe's options side by side (samples/s, validation PSNR at equal
epochs), Lightning's loop against a plain one, parallel jobs against threads, the data pipeline."""

from __future__ import annotations

import multiprocessing
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import lightning as L
import numpy as np
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import open_dict
from torch.utils.data import DataLoader

from benchmarks.common import timed
from espcn_lightning import CONFIG_DIR
from espcn_lightning.core.colour import (
    luma,
)
from espcn_lightning.core.degradations import Bicubic
from espcn_lightning.core.hardware import cpu_cores, limit_threads
from espcn_lightning.core.images import read_image
from espcn_lightning.core.network import ESPCN
from espcn_lightning.datasets.catalogue import dataset_files
from espcn_lightning.datasets.datamodule import (
    EpochBatchSampler,
    PatchBatches,
    build_patches,
    extract_patches,
)
from espcn_lightning.train import build as build_training
from espcn_lightning.training.callbacks import ChannelsLast
from espcn_lightning.training.module import ESPCNModule, training_loss


class StepClock(L.Callback):
    """Wall time of a fit's steps after the first ``warmup`` (steady state, no set-up)."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end, self.steps = warmup, 0.0, 0.0, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.steps = trainer.global_step

    def on_train_end(self, trainer, pl_module) -> None:
        self.end = time.perf_counter()


@dataclass(frozen=True)
class TrainingOption:
    """One way of running the training recipe, as the train config's switches name it."""

    name: str
    unshuffled_targets: bool
    channels_last: bool
    precision: Literal["32-true", "bf16-mixed"]

    def overrides(self) -> list[str]:
        """The train command's overrides that select this option."""
        return [
            f"data.unshuffled_targets={str(self.unshuffled_targets).lower()}",
            f"trainer.precision={self.precision}",
            *([] if self.channels_last else ["~callbacks.channels_last"]),
        ]


TRAINING_OPTIONS = (
    TrainingOption("whole batches, fp32", False, False, "32-true"),
    TrainingOption("+ pre-shuffled loss", True, False, "32-true"),
    TrainingOption("+ channels_last", True, True, "32-true"),
    TrainingOption("+ bf16-mixed", True, True, "bf16-mixed"),
)


def option_loader(lr: torch.Tensor, hr: torch.Tensor, option: TrainingOption) -> DataLoader:
    """The training DataLoader the datamodule builds for ``option`` (batch 16, augmented)."""
    batches = PatchBatches(lr, hr, 3, option.unshuffled_targets)
    return DataLoader(batches, sampler=EpochBatchSampler(batches, 16, seed=0), batch_size=None)


def recipe_module() -> ESPCNModule:
    """The recipe's LightningModule (ReLU ESPCN, Adam 1e-3) with a fixed initialisation."""
    torch.manual_seed(0)
    return ESPCNModule(
        net=ESPCN(activation="relu").config() | {"_target_": "espcn_lightning.core.network.ESPCN"},
        optimizer={"_target_": "torch.optim.Adam", "lr": 1e-3},
        image_every_n_epochs=0,
    )


def plain_samples_per_s(loader: DataLoader, option: TrainingOption, steps: int, warmup: int):
    """A hand-written loop doing what the module does under ``option`` (same loss, Adam,
    autocast and memory format), without Lightning: samples/s after ``warmup`` steps."""
    net = recipe_module().net
    if option.channels_last:
        net = net.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    bf16 = option.precision == "bf16-mixed"
    done, start = 0, 0.0
    while done < steps:
        for x, y in loader:
            if done == warmup:
                start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = training_loss(net, x, y)
            loss.backward()
            optimizer.step()
            done += 1
            if done == steps:
                break
    return (steps - warmup) * 16 / (time.perf_counter() - start)


def lightning_samples_per_s(
    loader: DataLoader, option: TrainingOption, steps: int, warmup: int
) -> float:
    """The project's ESPCNModule under a Lightning Trainer: samples/s after ``warmup`` steps."""
    clock = StepClock(warmup)
    trainer = L.Trainer(
        max_steps=steps,
        precision=option.precision,
        logger=False,
        callbacks=[clock, *([ChannelsLast()] if option.channels_last else [])],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        accelerator="cpu",
    )
    trainer.fit(recipe_module(), train_dataloaders=loader)
    return (steps - warmup) * 16 / (clock.end - clock.start)


def recipe_val_psnr(data_dir: Path, option: TrainingOption, seed: int, epochs: int) -> float:
    """Best validation PSNR of the train command's recipe under ``option`` after ``epochs``
    epochs (cosine over them), composed from conf/ as ``python -m espcn_lightning.train`` would."""
    overrides = [
        f"paths.data_dir={data_dir}",
        f"trainer.max_epochs={epochs}",
        f"seed={seed}",
        "trainer.enable_progress_bar=false",
        "~callbacks.model_checkpoint",
        "~callbacks.last_checkpoint",
        "~callbacks.lr_monitor",
        "image_every_n_epochs=0",
        *option.overrides(),
    ]
    GlobalHydra.instance().clear()
    with tempfile.TemporaryDirectory() as scratch:
        with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
            cfg = compose("train", overrides=overrides)
        with open_dict(cfg):
            cfg.paths.output_dir, cfg.logger = scratch, None
        L.seed_everything(seed, workers=True, verbose=False)
        datamodule, module, trainer = build_training(cfg)
        trainer.fit(module, datamodule=datamodule)
    GlobalHydra.instance().clear()
    return module.best_val_psnr


def bench_training(data_dir: Path, steps: int, epochs: int, seeds: list[int], rounds: int = 2):
    """The training table: samples/s of each option at batch 16 (the options alternated
    ``rounds`` times, each keeping its best, since the machine is shared) and its validation
    PSNR after ``epochs`` epochs per seed; then Lightning against a plain loop at the last
    option's settings."""
    images = [(p.stem, read_image(p)) for p in dataset_files(data_dir, "T91")]
    lr, hr = build_patches(images, Bicubic(3), 3, 17, 7)
    warmup = steps // 5
    speed = {o.name: 0.0 for o in TRAINING_OPTIONS}
    recipe = TRAINING_OPTIONS[-1]
    plain, lightning = 0.0, 0.0
    for _ in range(rounds):
        for option in TRAINING_OPTIONS:
            measured = lightning_samples_per_s(option_loader(lr, hr, option), option, steps, warmup)
            speed[option.name] = max(speed[option.name], measured)
        loader = option_loader(lr, hr, recipe)
        plain = max(plain, plain_samples_per_s(loader, recipe, steps, warmup))
        lightning = max(lightning, lightning_samples_per_s(loader, recipe, steps, warmup))
    rows: list[dict[str, Any]] = []
    for option in TRAINING_OPTIONS:
        psnr = [recipe_val_psnr(data_dir, option, seed, epochs) for seed in seeds]
        rows.append(
            {
                "option": option.name,
                "overrides": " ".join(option.overrides()),
                "samples_per_s": speed[option.name],
                "speedup": speed[option.name] / speed[TRAINING_OPTIONS[0].name],
                "val_psnr": psnr,
                "val_psnr_mean": statistics.mean(psnr),
            }
        )
    base = rows[0]["val_psnr"]
    for row in rows:
        row["val_delta_db"] = [a - b for a, b in zip(row["val_psnr"], base, strict=True)]
    return {
        "batch_size": 16,
        "epochs": epochs,
        "seeds": seeds,
        "options": rows,
        "loop": {
            "settings": recipe.name,
            "plain_samples_per_s": plain,
            "lightning_samples_per_s": lightning,
            "ratio": lightning / plain,
        },
    }


def parallel_worker(threads: int, steps: int, warmup: int, barrier, results) -> None:
    """One job of ``bench_parallel``: the recipe's plain step on ``threads`` threads, timed
    from a barrier that all jobs pass together (synthetic patches: speed only)."""
    limit_threads(threads)
    option = TRAINING_OPTIONS[-1]
    lr, hr = torch.rand(16 * 64, 1, 17, 17), torch.rand(16 * 64, 1, 51, 51)
    loader = option_loader(lr, hr, option)
    plain_samples_per_s(loader, option, warmup + 1, warmup)
    barrier.wait()
    start = time.perf_counter()
    plain_samples_per_s(loader, option, steps + 1, 1)
    results.put(time.perf_counter() - start)


def parallel_samples_per_s(jobs: int, threads: int, steps: int) -> float:
    """Total samples/s of ``jobs`` processes training at once on ``threads`` threads each."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(jobs), context.Queue()
    workers = [
        context.Process(target=parallel_worker, args=(threads, steps, 10, barrier, results))
        for _ in range(jobs)
    ]
    for worker in workers:
        worker.start()
    seconds = [results.get(timeout=3600) for _ in workers]
    for worker in workers:
        worker.join()
    return jobs * steps * 16 / max(seconds)


def bench_parallel(steps: int) -> dict:
    """n jobs x 1 thread against 1 job x n threads (n = this process's cores), and n jobs x n
    threads, the oversubscription a launcher that does not share the cores gives."""
    cores = cpu_cores()
    rows = []
    for jobs, threads in ((1, cores), (cores, 1), (cores, cores)):
        speed = parallel_samples_per_s(jobs, threads, steps)
        rows.append({"jobs": jobs, "threads": threads, "samples_per_s": speed})
    return {"cores": cores, "steps_per_job": steps, "runs": rows}


def bench_pipeline(data_dir: Path, batches: int) -> dict:
    """Batches/s drawing in-memory patches against decoding and degrading image files per step."""
    files = dataset_files(data_dir, "T91")
    images = [(p.stem, read_image(p)) for p in files]
    lr, hr = build_patches(images, Bicubic(3), 3, 17, 14)
    dataset = PatchBatches(lr, hr, 3)
    rng = np.random.default_rng(0)

    def memory_batch() -> torch.Tensor:
        picks = torch.from_numpy(rng.integers(0, len(dataset), 16))
        return dataset[picks, torch.from_numpy(rng.integers(0, 8, 16))][0]

    def file_batch() -> list[torch.Tensor]:
        batch = []
        for i in rng.integers(0, len(files), 16):
            y = torch.from_numpy(luma(read_image(files[int(i)]))).double() / 255
            batch.append(extract_patches(y, Bicubic(3), 3, 17, 14)[0][0])
        return batch

    memory = batches / timed(lambda: [memory_batch() for _ in range(batches)], repeats=3, warmup=1)
    disk = batches / timed(lambda: [file_batch() for _ in range(batches)], repeats=3, warmup=1)
    return {"memory_batches_per_s": memory, "file_batches_per_s": disk, "ratio": memory / disk}


def print_training(training: dict) -> None:
    """The training table: each option's samples/s, speed-up and val PSNR per seed."""
    seeds = training["seeds"]
    print(
        f"training at batch {training['batch_size']} (T91, LR stride 7); val PSNR after "
        f"{training['epochs']} epochs, seeds {', '.join(map(str, seeds))}:"
    )
    print(f"{'option':<34}{'samples/s':>10}{'x':>6}{'val dB (mean)':>15}{'vs before':>11}")
    for row in training["options"]:
        delta = statistics.mean(row["val_delta_db"])
        print(
            f"{row['option']:<34}{row['samples_per_s']:>10.0f}{row['speedup']:>6.2f}"
            f"{row['val_psnr_mean']:>15.3f}{delta:>+11.3f}"
        )
    loop = training["loop"]
    print(
        f"loop at the last row's settings: Lightning {loop['lightning_samples_per_s']:.0f} "
        f"samples/s, plain {loop['plain_samples_per_s']:.0f}, ratio {loop['ratio']:.1%}"
    )
