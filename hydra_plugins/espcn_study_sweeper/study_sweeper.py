"""The study sweeper: an Optuna study in the sweep dir and ``n_workers`` jobs working on it.

Hydra's own Optuna sweeper asks for a batch of trials, launches them and waits for the whole batch
before it asks again, and the trial object never reaches the job, so a job cannot report to a
pruner. Here the sweeper only creates (or re-opens) the study and launches the workers through
whichever launcher is configured (basic, parallel or SLURM); each worker asks the study for its
next trial itself (``espcn_lightning.training.study.work``), so a pruned or finished trial is
followed at once by the next one, and every epoch's validation PSNR reaches the pruner.

Re-run with the same command and ``hydra.sweep.dir``, a killed study goes on: completed and pruned
trials stay, trials left running are failed and queued again, to resume in their run dirs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from espcn_lightning.core.errors import ConfigError, UserError, fail

log = logging.getLogger(__name__)


class StudySweeper(Sweeper):
    """Create or re-open the study, then launch ``n_workers`` identical worker jobs."""

    def __init__(
        self,
        study_name: str,
        n_trials: int,
        n_workers: int = 1,
        direction: str = "maximize",
        storage: str = "journal",
        sampler: Mapping[str, Any] | None = None,
        pruner: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        recipe: Sequence[str] = (),
    ) -> None:
        """``recipe``: the overrides that train a trial outside the study (the report's retrain
        command); the sweeper itself does not use them."""
        self.n_trials, self.n_workers = n_trials, n_workers
        self.params = dict(params or {})
        self.settings = {
            "study_name": study_name,
            "direction": direction,
            "storage": storage,
            "sampler": sampler,
            "pruner": pruner,
        }
        self.config: DictConfig | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Sequence[Any]:
        """Open the study (refusing a changed space), requeue what a kill left running, then
        launch the workers and wait for them; returns their results. A study the workers left
        short of ``n_trials`` (a user error in a trial) ends in one line and exit status 1."""
        try:
            return self._sweep(arguments)
        except UserError as error:
            fail(error)

    def _sweep(self, arguments: list[str]) -> Sequence[Any]:
        from espcn_lightning.training.search_space import parse
        from espcn_lightning.training.study import (
            counted,
            open_study,
            requeue_interrupted,
            unfinished,
        )

        assert self.config is not None
        if self.n_trials < 1 or self.n_workers < 1:
            raise ConfigError(
                f"hydra.sweeper: n_trials={self.n_trials}, n_workers={self.n_workers}: use >= 1"
            )
        space, fixed = parse(self.params, arguments)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        study = open_study(sweep_dir, {**self.settings, "n_trials": self.n_trials}, space)
        requeued = requeue_interrupted(study)
        if requeued:
            log.info("trials %s were left running by a killed worker: queued again", requeued)
        log.info(
            "study %s in %s: %d of %d trials done or under way; %d workers",
            self.settings["study_name"],
            sweep_dir,
            counted(study),
            self.n_trials,
            self.n_workers,
        )
        assert self.launcher is not None, "setup() makes the launcher"
        jobs = [list(fixed) for _ in range(self.n_workers)]
        results = self.launcher.launch(jobs, initial_job_idx=0)
        stopped = unfinished(study, self.n_trials)  # the storage is re-read: the workers' trials
        if stopped:
            raise UserError(stopped)
        return results
