"""An Optuna study that training jobs work on together: each job a worker that asks for a trial,
trains it as a normal run (its own dir and summary), reports validation PSNR every epoch to the
pruner and tells the result, then asks for the next one: no batch barrier.

The study lives in Optuna storage in the sweep dir (a journal file, which works on a shared
filesystem, or SQLite), so a killed study re-run with the same command goes on where it stopped.
The sweeper side (creating the study, launching the workers) is
``hydra_plugins/espcn_study_sweeper``; Optuna is the ``[sweep]`` extra.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import lightning as L
import optuna
import optuna.storages.journal
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from optuna.trial import TrialState

from espcn_lightning.core.errors import ConfigError, UserError
from espcn_lightning.training.dashboard import PRUNED_METRIC
from espcn_lightning.training.search_space import Space, from_json, to_json
from espcn_lightning.training.sweeps import STUDY_FILES

log = logging.getLogger(__name__)

#: Trials that count towards ``n_trials``: finished either way, or being trained now.
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
#: Where each trial's run dir lies inside the sweep dir, and the user attribute naming it.
TRIALS, RUN_DIR = "trials", "run_dir"
#: The user attribute of a trial failed by a user error: its message.
ERROR = "error"


def storage(sweep_dir: Path, kind: str) -> optuna.storages.BaseStorage | str:
    """The study's storage in ``sweep_dir``: ``journal`` (a file, safe for workers on several
    machines sharing the folder) or ``sqlite``."""
    sweep_dir.mkdir(parents=True, exist_ok=True)
    if kind == "journal":
        backend = optuna.storages.journal.JournalFileBackend(str(sweep_dir / STUDY_FILES[kind]))
        return optuna.storages.JournalStorage(backend)
    if kind == "sqlite":
        return f"sqlite:///{sweep_dir / STUDY_FILES[kind]}"
    raise ConfigError(f"hydra.sweeper.storage={kind!r}: choose journal or sqlite")


def open_study(
    sweep_dir: Path, settings: Mapping[str, Any], space: Space | None = None, seed_offset: int = 0
) -> optuna.Study:
    """The sweep dir's study, created with ``space`` if new; a study made for another space is
    refused in one line. ``seed_offset`` (the worker's number) keeps parallel workers' seeded
    samplers from proposing the same trials."""
    sampler_cfg = copy.deepcopy(dict(settings.get("sampler") or {}))
    if sampler_cfg and sampler_cfg.get("seed") is not None:
        sampler_cfg["seed"] = int(sampler_cfg["seed"]) + seed_offset
    study = optuna.create_study(
        study_name=str(settings["study_name"]),
        storage=storage(sweep_dir, str(settings.get("storage", "journal"))),
        sampler=instantiate(sampler_cfg) if sampler_cfg else None,
        pruner=instantiate(dict(settings["pruner"])) if settings.get("pruner") else None,
        direction=settings.get("direction", "maximize"),
        load_if_exists=True,
    )
    stored = study.user_attrs.get("space")
    if space is not None:
        if stored is None:
            study.set_user_attr("space", to_json(space))
        elif stored != to_json(space):
            raise ConfigError(
                f"{sweep_dir}: its study searches another space ({stored}); a changed "
                "hydra.sweeper.params needs a new hydra.sweep.dir"
            )
    return study


def space_of(study: optuna.Study) -> Space:
    """The space the study was created with."""
    return from_json(study.user_attrs["space"])


def requeue_interrupted(study: optuna.Study) -> list[int]:
    """Trials left running by killed workers: each marked failed and its parameters queued again,
    to resume in the same run dir; call only while no worker runs (the sweep dir's lock)."""
    requeued = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        attrs = {RUN_DIR: trial.user_attrs.get(RUN_DIR, f"{TRIALS}/{trial.number:04d}")}
        study.enqueue_trial(trial.params, user_attrs=attrs, skip_if_exists=False)
        requeued.append(trial.number)
    return requeued


def counted(study: optuna.Study) -> int:
    """Trials done or under way (a failed one does not count: its parameters are queued again)."""
    return len(study.get_trials(deepcopy=False, states=COUNTED))


def unfinished(study: optuna.Study, n_trials: int) -> str | None:
    """Why the workers stopped before the study had ``n_trials`` (the last user error a trial
    failed with), or None when it has them: a study that stopped early must not look done."""
    done = counted(study)
    if done >= n_trials:
        return None
    failed = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    errors = [t.user_attrs[ERROR] for t in failed if ERROR in t.user_attrs]
    cause = errors[-1] if errors else "the workers ended early (see their train.log)"
    return (
        f"study {study.study_name} stopped at {done} of {n_trials} trials: {cause}; "
        "fix it and re-run the same command to continue the study"
    )


class PruneTrial(L.Callback):
    """Report ``monitor`` to the trial after every validation; stop the run when the pruner says
    so (at the end of that epoch, its checkpoint and summary written as for any run)."""

    def __init__(self, trial: optuna.Trial, monitor: str = "val/psnr") -> None:
        self.trial, self.monitor = trial, monitor
        self.pruned_at: int | None = None

    def on_validation_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.monitor)
        if trainer.sanity_checking or value is None:
            return
        self.trial.report(float(value), trainer.current_epoch)
        if self.trial.should_prune():
            self.pruned_at = trainer.current_epoch
            trainer.should_stop = True
            for logger in trainer.loggers:  # HParams shows the trial as pruned, not as a score
                logger.log_metrics({PRUNED_METRIC: float(self.pruned_at)}, trainer.global_step)


#: Trains one trial's config with these extra callbacks: returns the run's summary.
TrainTrial = Callable[[DictConfig, list[str], list[L.Callback]], dict]


def trial_config(cfg: DictConfig, params: Mapping[str, Any], run_dir: Path) -> DictConfig:
    """The job's config with the trial's parameters set and its own run dir."""
    trial = copy.deepcopy(cfg)
    with open_dict(trial):
        for key, value in params.items():
            OmegaConf.update(trial, key, value, merge=False)
        trial.paths.output_dir = str(run_dir)
        if trial.get("logger") and trial.logger.get("tensorboard"):  # named by what it tries
            trial.logger.tensorboard.version = " ".join(f"{k}={v}" for k, v in params.items())
    return trial


def work(
    cfg: DictConfig,
    sweep_dir: Path,
    settings: Mapping[str, Any],
    train_trial: TrainTrial,
    worker: int = 0,
) -> int:
    """Ask, train and tell trials until the study has ``n_trials``; returns how many this worker
    trained. A user error (missing data, a refused option) is told failed and ends the worker in
    one line: every later trial would meet it too."""
    study = open_study(sweep_dir, settings, seed_offset=worker)
    space, n_trials, trained = space_of(study), int(settings["n_trials"]), 0
    while counted(study) < n_trials or study.get_trials(states=(TrialState.WAITING,)):
        trial = study.ask(space)
        run_dir = trial.user_attrs.get(RUN_DIR) or f"{TRIALS}/{trial.number:04d}"
        trial.set_user_attr(RUN_DIR, run_dir)
        overrides = [f"{key}={value}" for key, value in trial.params.items()]
        log.info("worker %d: trial %d, %s", worker, trial.number, " ".join(overrides))
        pruning = PruneTrial(trial)
        try:
            summary = train_trial(
                trial_config(cfg, trial.params, sweep_dir / run_dir), overrides, [pruning]
            )
        except UserError as error:
            trial.set_user_attr(ERROR, str(error))
            study.tell(trial, state=TrialState.FAIL)
            raise
        trained += 1
        if summary.get("status") == "pruned":
            study.tell(trial, state=TrialState.PRUNED)
        elif summary.get("best_val_psnr") is None:
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, float(summary["best_val_psnr"]))
    return trained
