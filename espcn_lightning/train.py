"""Train ESPCN: ``python -m espcn_lightning.train [experiment=NAME] [overrides]`` (Hydra app).

Outputs land in the Hydra run dir: checkpoints/, tensorboard/, and model.pt + model.json (the best
checkpoint's network, loadable with ``espcn_lightning.load_model``).
"""

from __future__ import annotations

import copy
import logging
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import hydra
import lightning as L
import requests
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import MLFlowLogger
from omegaconf import DictConfig

from espcn_lightning.core.errors import ConfigError, one_line_errors
from espcn_lightning.core.hardware import (
    cpu_cores,
    limit_threads,
    slurm_cpus,
    thread_share,
    training_precision,
)
from espcn_lightning.core.network import ESPCN
from espcn_lightning.core.options import check_epochs, check_positive_number, check_whole
from espcn_lightning.evaluation.protocol import evaluate
from espcn_lightning.inference.engines import network_upscaler
from espcn_lightning.inference.pretrained import load_model, save_weights
from espcn_lightning.training import runs
from espcn_lightning.training.callbacks import EpochLines
from espcn_lightning.training.checkpoints import resumed_step
from espcn_lightning.training.dashboard import dashboard_callback
from espcn_lightning.training.module import ESPCNModule

log = logging.getLogger(__name__)


def git_commit() -> str:
    """The project's current commit, or 'unknown' outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def build(
    cfg: DictConfig, extra_callbacks: Sequence[L.Callback] = ()
) -> tuple[L.LightningDataModule, ESPCNModule, L.Trainer]:
    """Datamodule, LightningModule and Trainer from a composed train config (and callbacks the
    caller adds, such as a study's pruning)."""
    datamodule = instantiate(cfg.data, degradation=instantiate(cfg.degradation))
    module = instantiate(cfg.module)
    callbacks = [instantiate(c) for c in cfg.callbacks.values() if c is not None]
    callbacks.extend(extra_callbacks)
    callbacks.append(dashboard_callback(cfg))
    if cfg.trainer.get("enable_progress_bar", True) and not sys.stdout.isatty():
        callbacks.append(EpochLines())
    purge = {"purge_step": step} if (step := resumed_step(cfg)) is not None else {}
    loggers = [
        instantiate(c, **purge if c._target_.endswith("TensorBoardLogger") else {})
        for c in (cfg.get("logger") or {}).values()
        if c is not None
    ]
    precision = training_precision(cfg.trainer.get("precision", "auto"), cfg.trainer.accelerator)
    trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, precision=precision
    )
    return datamodule, module, trainer


def score_key(name: str) -> str:
    """The summary/logger key of a scored set: ``test/Set5_psnr``, or for held-out validation
    images (``NAME/N``) ``val/NAME_every_N_psnr``: whole images, selection may use them."""
    dataset, _, every = name.partition("/")
    return f"val/{dataset}_every_{every}_psnr" if every else f"test/{name}_psnr"


def report_scores(net: ESPCN, cfg: DictConfig, trainer: L.Trainer) -> dict[str, float]:
    """PSNR of the selected model on ``report_sets``: test sets reported only, never used to select;
    held-out validation images (``NAME/N``) scored whole, to compare runs whatever their patches."""
    if not cfg.report_sets:
        return {}
    upscale = network_upscaler(net)
    result = evaluate(
        upscale, instantiate(cfg.degradation), cfg.scale, cfg.paths.data_dir, list(cfg.report_sets)
    )
    scores = {score_key(name): row["psnr"] for name, row in result["datasets"].items()}
    for logger in trainer.loggers:
        logger.log_metrics(scores, step=trainer.global_step)
    return scores


def keep_artifacts(trainer: L.Trainer, paths: list[Path]) -> None:
    """Hand files (the exported weights) to the loggers that keep artifacts (MLflow). The best
    validation PSNR reached every logger during training (``hp/best_val_psnr``)."""
    for logger in trainer.loggers:
        if isinstance(logger, MLFlowLogger) and logger.run_id is not None:
            for path in paths:
                logger.experiment.log_artifact(logger.run_id, str(path))


def check_tracking_servers(cfg: DictConfig) -> None:
    """Refuse an MLflow tracking server that does not answer, before any data is prepared."""
    for logger in (cfg.get("logger") or {}).values():
        uri = str(logger.get("tracking_uri", "")) if logger is not None else ""
        if not uri.startswith(("http://", "https://")):
            continue
        try:
            requests.get(f"{uri.rstrip('/')}/health", timeout=10).raise_for_status()
        except requests.RequestException as error:
            raise ConfigError(
                f"logger.mlflow.tracking_uri={uri}: no MLflow server answers there "
                f"({type(error).__name__}); start it, or log to a folder (drop tracking_uri)"
            ) from error


def check_options(cfg: DictConfig) -> None:
    """Refuse a config that cannot train before the run dir is claimed (a refused run leaves no
    trace there): the options Lightning or torch would reject after set-up, and every check the
    datamodule and module make when they are built (nothing is read or trained yet)."""
    check_whole("seed", cfg.seed)
    check_epochs(cfg.trainer.get("max_epochs"))
    check_positive_number("optim.optimizer.lr", cfg.optim.optimizer.get("lr"))
    check_tracking_servers(cfg)
    probe = copy.deepcopy(cfg)  # instantiate resolves the interpolations it follows in place
    instantiate(probe.data, degradation=instantiate(probe.degradation))
    instantiate(probe.module)


def train(cfg: DictConfig, extra_callbacks: Sequence[L.Callback] = ()) -> dict:
    """Fit, then export the best checkpoint's weights; returns the run's summary. The run dir is
    the caller's to check first (``runs.claim``: no other run's checkpoints, a sound ckpt_path)."""
    commit = git_commit()
    L.seed_everything(cfg.seed, workers=True)
    datamodule, module, trainer = build(cfg, extra_callbacks)
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    seconds = time.perf_counter() - start
    checkpoint, best_path, best_score = trainer.checkpoint_callback, "", None
    if isinstance(checkpoint, ModelCheckpoint) and checkpoint.best_model_path:
        best_path, best_score = checkpoint.best_model_path, checkpoint.best_model_score
    summary = {
        "status": "completed",
        "best_val_psnr": float(best_score) if best_score is not None else None,
        "epochs": trainer.current_epoch,
        "train_seconds": round(seconds, 1),
        "best_checkpoint": best_path,
        "precision": str(trainer.precision),
        "threads": torch.get_num_threads(),
    }
    if best_path and trainer.is_global_zero:
        best = load_model(best_path)
        summary.update(report_scores(best, cfg, trainer))
        if cfg.export_weights:
            provenance = {
                "command": " ".join(["python -m espcn_lightning.train", *sys.argv[1:]]),
                "commit": commit,
                **summary,
            }
            out = Path(cfg.paths.output_dir) / "model.pt"
            save_weights(best, out, provenance)
            keep_artifacts(trainer, [out, out.with_suffix(".json")])
            log.info(
                "best val PSNR %.3f dB after %d epochs (%.0f s); weights: %s",
                summary["best_val_psnr"],
                summary["epochs"],
                seconds,
                out,
            )
    return summary


def job_threads(cfg: DictConfig) -> int | None:
    """Threads for this job: ``threads`` if set, else the CPUs SLURM granted it, else its share of
    the cores when a launcher runs ``hydra.launcher.n_jobs`` jobs at once (joblib's -1 is one per
    core), else None (torch's own default, every core)."""
    if cfg.get("threads") is not None:
        return int(cfg.threads)
    if (granted := slurm_cpus()) is not None:
        return granted
    hydra_cfg = HydraConfig.get()
    n_jobs = hydra_cfg.launcher.get("n_jobs") if hydra_cfg.mode == RunMode.MULTIRUN else None
    if n_jobs is None:
        return None
    cores = cpu_cores()
    return thread_share(n_jobs if n_jobs > 0 else max(1, cores + 1 + n_jobs), cores)


def train_trial(cfg: DictConfig, overrides: list[str], callbacks: list[L.Callback]) -> dict:
    """One trial of a study as a normal run in its own dir: claimed, trained, summarised; a
    pruned trial's summary says ``pruned`` and the epoch it stopped after."""
    check_options(cfg)
    run = runs.claim(cfg, overrides)
    if run.skipped:
        return dict(run.state.summary or {})
    with run:
        summary = train(run.config, callbacks)
        pruned = [getattr(c, "pruned_at", None) for c in callbacks]
        if any(epoch is not None for epoch in pruned):
            summary.update(
                status="pruned", pruned_at_epoch=next(e for e in pruned if e is not None)
            )
        run.finish(summary)
    return summary


def is_study_worker() -> bool:
    """Whether this job was launched by the study sweeper (``sweep=optuna``)."""
    hydra_cfg = HydraConfig.get()
    return hydra_cfg.mode == RunMode.MULTIRUN and str(
        hydra_cfg.sweeper.get("_target_", "")
    ).endswith("StudySweeper")


def study_worker(cfg: DictConfig) -> float | None:
    """Work on the sweep dir's study until it has its trials (``training.study.work``)."""
    from espcn_lightning.training.study import open_study, work  # Optuna: the [sweep] extra

    hydra_cfg = HydraConfig.get()
    sweep_dir, settings = Path(hydra_cfg.sweep.dir), hydra_cfg.sweeper
    work(cfg, sweep_dir, settings, train_trial, worker=int(hydra_cfg.job.num))
    trials = open_study(sweep_dir, settings).trials
    complete = [t.value for t in trials if t.state.name == "COMPLETE" and t.value is not None]
    return max(complete) if complete else None


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Hydra entry point; returns the best val PSNR so sweepers (Optuna) can optimise it.

    The project's error policy (``errors.one_line_errors``): a user error ends a single run in one
    line and exit status 1; in a multirun the job is recorded as failed in its summary.json and
    the other jobs go on. Anything else is a bug: it keeps its traceback, and the run's
    summary.json says failed.
    """
    multirun = HydraConfig.get().mode == RunMode.MULTIRUN
    best = one_line_errors(train_job, exit=not multirun)(cfg)
    return best if isinstance(best, float) else None


def train_job(cfg: DictConfig) -> float | None:
    """One job: take its share of the cores (``job_threads``), claim its run dir
    (``training.runs``: a refused run changes nothing there), train, write its summary. Under
    ``sweep=optuna`` the job is a study worker instead (``study_worker``)."""
    threads = job_threads(cfg)
    if threads is not None:
        limit_threads(threads)
    if is_study_worker():
        return study_worker(cfg)
    check_options(cfg)
    run = runs.claim(cfg)
    if run.skipped:
        best = (run.state.summary or {}).get("best_val_psnr")
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            print(
                f"{run.directory}: already completed (best val PSNR {best}); nothing to train and "
                "nothing rewritten: raise trainer.max_epochs to train on"
            )
        return best
    with run:
        summary = train(run.config)
        run.finish(summary)
    return summary["best_val_psnr"]


if __name__ == "__main__":
    main()
