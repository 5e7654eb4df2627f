"""Sweeps that resume: Hydra's basic (and joblib) launcher, told what a sweep dir already holds.

Re-running a multirun with the same command line and ``hydra.sweep.dir`` skips each job whose
summary.json says completed (its dir is not touched: the job is never composed into a run),
resumes each interrupted job from its ``last.ckpt`` (the job does that itself when it claims its
dir, ``training.runs.plan``) and runs the rest. A changed command line, a job dir that holds
another job, or a sweep dir another process is running are refused before any job starts. Hydra's
own launchers cannot do this: they start every job of a sweep afresh.

``hydra.launcher.reuse_from=[SWEEP_DIR, ...]`` also takes over, as a copy, each completed job of
those sweeps that ran exactly the config a job of this sweep would run (its study and dirs aside):
the seed study's five studies share their base job, which then trains once, not five times.
"""

from __future__ import annotations

import atexit
import copy
import logging
import os
import subprocess
from collections.abc import Callable, Sequence
from itertools import groupby
from pathlib import Path

from hydra._internal.core_plugins.basic_launcher import BasicLauncher
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import (
    JobReturn,
    JobStatus,
    configure_log,
    filter_overrides,
    setup_globals,
)
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict, read_write

from espcn_lightning.core.errors import RunDirError, fail
from espcn_lightning.training.locks import DirLock
from espcn_lightning.training.runs import FRESH, RESUME, SKIP, RunState, plan, write_record
from espcn_lightning.training.sweeps import check_command_line, find_reusable, reuse_job

REUSE = "reuse"
DONE = (SKIP, REUSE)

log = logging.getLogger(__name__)


def claim_sweep(config: DictConfig) -> None:
    """Check the sweep dir's command line and lock the dir for this process, before the sweeper
    rewrites its multirun.yaml (checked again under the lock); refuse in one line otherwise."""
    setup_globals()
    sweep_dir = Path(str(config.hydra.sweep.dir))
    command = [str(o) for o in config.hydra.overrides.task]
    try:
        check_command_line(sweep_dir, command)
        lock = DirLock.acquire(sweep_dir, "hydra.sweep.dir")
    except RunDirError as error:
        fail(error)
    atexit.register(lock.release)
    try:
        check_command_line(sweep_dir, command)
    except RunDirError as error:
        lock.release()
        fail(error)


Launch = Callable[[Sequence[Sequence[str]], int], Sequence[JobReturn]]
Numbered = list[tuple[int, list[str]]]


def in_blocks(launch: Launch) -> Callable[[Numbered], Sequence[JobReturn]]:
    """Hydra's ``launch(overrides, first_number)`` over each run of consecutive job numbers, so
    that every job lands in its own numbered dir again."""

    def run(jobs: Numbered) -> list[JobReturn]:
        results: list[JobReturn] = []
        for _, group in groupby(enumerate(jobs), key=lambda item: item[1][0] - item[0]):
            block = [job for _, job in group]
            results += launch([overrides for _, overrides in block], block[0][0])
        return results

    return run


def launch_resuming(
    config: DictConfig,
    context: HydraContext,
    launch: Callable[[Numbered], Sequence[JobReturn]],
    job_overrides: Sequence[Sequence[str]],
    initial_job_idx: int,
    reuse_from: Sequence[Path] = (),
) -> Sequence[JobReturn]:
    """Plan every job first (a refusal runs nothing; reused jobs are copied in then), then
    ``launch`` the jobs to do, each under its own number, and return every job's result in order."""
    jobs = []
    for number, overrides in enumerate(job_overrides, start=initial_job_idx):
        try:
            action, state = job_plan(config, context, number, list(overrides), reuse_from)
        except RunDirError as error:
            fail(error)
        jobs.append((number, list(overrides), action, state))
    for number, _, action, state in jobs:
        if action == RESUME:
            log.info(f"\t#{number} resumes from {state.last_checkpoint}")
    done = {job[0]: skipped(*job) for job in jobs if job[2] in DONE}
    pending = [(number, overrides) for number, overrides, _, _ in jobs if number not in done]
    launched = iter(launch(pending) if pending else [])
    return [done[job[0]] if job[0] in done else next(launched) for job in jobs]


def job_plan(
    config: DictConfig,
    context: HydraContext,
    number: int,
    overrides: list[str],
    reuse_from: Sequence[Path] = (),
) -> tuple[str, RunState]:
    """What job ``number`` needs (runs.plan on its dir), its config composed as a launch would;
    a new job that one of the ``reuse_from`` sweeps completed is copied in (REUSE)."""
    sweep_config = context.config_loader.load_sweep_config(config, overrides)
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = number
        sweep_config.hydra.job.num = number
    previous = HydraConfig.instance().cfg
    HydraConfig.instance().set_config(sweep_config)
    try:
        sweep = sweep_config.hydra.sweep
        directory = Path(str(sweep.dir)) / str(sweep.subdir)
        task = copy.deepcopy(sweep_config)
        with read_write(task), open_dict(task):
            del task["hydra"]
        state = RunState.read(directory)
        action = plan(state, task, overrides, multirun=True)
        source = find_reusable(task, reuse_from) if action == FRESH and reuse_from else None
        if source is None or directory.exists():
            return action, state
        reuse_job(source, directory)
        write_record(directory, task, overrides)
        return REUSE, RunState.read(directory)
    finally:
        HydraConfig.instance().cfg = previous


def skipped(number: int, overrides: list[str], action: str, state: RunState) -> JobReturn:
    """The result of a job completed by an earlier run of the sweep (or reused from another
    sweep), read from its summary."""
    source = (state.summary or {}).get("reused_from")
    why = f"reused from {source}" if action == REUSE else "completed before: skipped"
    log.info(f"\t#{number} : {' '.join(overrides)} ({why})")
    result = JobReturn(overrides=overrides, working_dir=os.getcwd(), task_name="skipped")
    result.status = JobStatus.COMPLETED
    result.return_value = (state.summary or {}).get("best_val_psnr")
    return result


class Resuming:
    """What both launchers add to Hydra's: the sweep dir's check and lock at setup, and launching
    only the jobs not completed yet (a mixin, placed before the Hydra launcher it extends)."""

    config: DictConfig | None
    hydra_context: HydraContext | None

    def __init__(self, reuse_from: Sequence[str] = (), **kwargs: object) -> None:
        """The Hydra launcher's own settings, and the sweep dirs whose jobs may be reused."""
        super().__init__(**kwargs)
        self.reuse_from = [Path(str(source)) for source in reuse_from]

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        """Hydra's setup, then the sweep dir's check and lock."""
        super().setup(  # type: ignore[misc]
            hydra_context=hydra_context, task_function=task_function, config=config
        )
        claim_sweep(config)

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        """The jobs not completed yet, launched as the Hydra launcher launches them."""
        assert self.config is not None and self.hydra_context is not None
        return launch_resuming(
            self.config,
            self.hydra_context,
            self.launch_numbered,
            job_overrides,
            initial_job_idx,
            self.reuse_from,
        )

    def launch_numbered(self, jobs: Numbered) -> Sequence[JobReturn]:
        """Launch ``jobs`` (number, overrides) as the Hydra launcher launches them."""
        return in_blocks(super().launch)(jobs)  # type: ignore[misc]


class ResumableLauncher(Resuming, BasicLauncher):
    """Hydra's basic (one job after another) launcher, resuming (``hydra/launcher=resumable``)."""


try:
    from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
except ImportError:  # pip install -e ".[sweep]" for parallel jobs
    JoblibLauncher = None

if JoblibLauncher is not None:

    class ResumableJoblibLauncher(Resuming, JoblibLauncher):
        """Hydra's joblib launcher (jobs in parallel), resuming (``hydra/launcher=parallel``)."""

        def launch_numbered(self, jobs: Numbered) -> Sequence[JobReturn]:
            """Every pending job in one joblib.Parallel call, each under its own number: Hydra's
            launch takes only consecutive numbers, and launching each run of them apart would
            leave cores idle while the last job of a run finishes. Uses the plugin's own
            execute_job, as its launch does."""
            from hydra.core.singleton import Singleton
            from hydra_plugins.hydra_joblib_launcher._core import execute_job, process_joblib_cfg
            from joblib import Parallel, delayed

            assert self.config is not None and self.hydra_context is not None
            setup_globals()
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
            Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
            options = {**self.joblib, "backend": "loky"}
            process_joblib_cfg(options)
            log.info(f"Joblib.Parallel(n_jobs={options.get('n_jobs')}): {len(jobs)} jobs")
            for number, overrides in jobs:
                log.info(f"\t#{number} : {' '.join(filter_overrides(overrides))}")
            state = Singleton.get_state()
            return Parallel(**options)(
                delayed(execute_job)(
                    number, overrides, self.hydra_context, self.config, self.task_function, state
                )
                for number, overrides in jobs
            )


def accounting_off() -> bool:
    """Whether the SLURM cluster keeps no job accounting (``sacct`` refuses to answer)."""
    try:
        asked = subprocess.run(["sacct", "-n", "-X", "-j", "1"], capture_output=True, text=True)
    except OSError:
        return False
    return asked.returncode != 0 and "disabled" in f"{asked.stdout}{asked.stderr}".lower()


def quiet_sacct() -> None:
    """submitit polls ``sacct`` for job states, and each failed poll prints sacct's error and a
    warning; where the cluster keeps no accounting every poll fails. Say so once and do not poll:
    submitit reads each job's outcome from its result file all the same."""
    if not accounting_off():
        return
    from submitit.slurm.slurm import SlurmJob

    SlurmJob.watcher._make_command = lambda: None  # type: ignore[method-assign]
    log.warning(
        "SLURM accounting is off on this cluster (sacct fails): job states come from submitit's "
        "result files instead"
    )


try:
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
except ImportError:  # pip install "espcn-lightning[sweep]" for SLURM
    SlurmLauncher = None

if SlurmLauncher is not None:

    class ResumableSlurmLauncher(Resuming, SlurmLauncher):
        """Hydra's submitit SLURM launcher, resuming (``hydra/launcher=slurm``): a re-run submits
        only the jobs not completed, and a job requeued on preemption or timeout resumes from
        its last checkpoint (its run dir says so; submitit resubmits the same job)."""

        def launch_numbered(self, jobs: Numbered) -> Sequence[JobReturn]:
            """Each run of consecutive job numbers as one job array, sacct's warnings quieted."""
            quiet_sacct()
            return super().launch_numbered(jobs)
