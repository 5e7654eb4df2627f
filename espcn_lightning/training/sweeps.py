"""A sweep dir's own record: the command line it was run with, the jobs that asks for, and the
completed jobs another sweep may take over instead of training them again.

The resumable launcher (``hydra_plugins/espcn_resume_launcher``) reads it to refuse a re-run with
another command line and to reuse identical jobs, and the sweep report to list the jobs a partial
sweep is missing.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import cast

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

from espcn_lightning.core.errors import RunDirError
from espcn_lightning.training.identity import job_key
from espcn_lightning.training.locks import LOCK
from espcn_lightning.training.runs import SUMMARY, RunState, atomic_write_text

MULTIRUN = "multirun.yaml"
#: The file an Optuna study keeps in its sweep dir, by storage kind (``hydra.sweeper.storage``).
STUDY_FILES = {"journal": "study.journal", "sqlite": "study.db"}
BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def study_storage(sweep_dir: Path) -> str | None:
    """The storage kind of the study in ``sweep_dir``, or None where it holds no study; read
    without Optuna, so the report knows a study's dir before it needs the [sweep] extra."""
    for kind, name in STUDY_FILES.items():
        if (sweep_dir / name).is_file():
            return kind
    return None


def saved_config(sweep_dir: Path) -> DictConfig | None:
    """The multirun config Hydra saved in the sweep dir when it was first run, if any."""
    path = Path(sweep_dir) / MULTIRUN
    config = OmegaConf.load(path) if path.is_file() else None
    return config if isinstance(config, DictConfig) else None


def command_line(config: DictConfig) -> list[str]:
    """A multirun config's command-line overrides (``hydra.*`` ones, the launcher say, aside)."""
    return [str(o) for o in OmegaConf.select(config, "hydra.overrides.task", default=[])]


def check_command_line(sweep_dir: Path, overrides: list[str]) -> None:
    """Refuse to run into a sweep dir made by another command line: that is another sweep."""
    config = saved_config(sweep_dir)
    if config is None:
        return
    before = command_line(config)
    if sorted(before) == sorted(overrides):
        return
    gone = [o for o in before if o not in overrides]
    new = [o for o in overrides if o not in before]
    raise RunDirError(
        f"{sweep_dir} holds the sweep run with `-m {' '.join(before)}`; this command line differs "
        f"({' '.join([*(f'-{o}' for o in gone), *(f'+{o}' for o in new)])}) and would be another "
        "sweep: rerun that exact command to resume it, or choose a new hydra.sweep.dir"
    )


def expected_jobs(sweep_dir: Path) -> list[list[str]] | None:
    """Each job's overrides, in launch order, that a basic-sweeper multirun asked for; None when
    that cannot be known (no multirun.yaml, or another sweeper such as Optuna's).

    Uses Hydra's own BasicSweeper.split_arguments, so the order is the one the sweep ran in.
    """
    config = saved_config(sweep_dir)
    if config is None or OmegaConf.select(config, "hydra.sweeper._target_") != BASIC_SWEEPER:
        return None
    swept = config.hydra.sweeper.get("params")
    params = cast(dict, OmegaConf.to_container(swept)) if swept is not None else {}
    arguments = [f"{key}={value}" for key, value in params.items()] + command_line(config)
    overrides = OverridesParser.create().parse_overrides(arguments)
    return [list(job) for job in BasicSweeper.split_arguments(overrides, None)[0]]


def numbered_job_dirs(sweep_dir: Path) -> bool:
    """Whether job dirs are named by job number (Hydra's default ``hydra.sweep.subdir``)."""
    config = saved_config(sweep_dir)
    if config is None:
        return False
    sweep = cast(dict, OmegaConf.to_container(config.hydra.sweep, resolve=False))
    return sweep.get("subdir") == "${hydra.job.num}"


def find_reusable(config: DictConfig, sources: Sequence[Path]) -> Path | None:
    """A completed job in one of the ``sources`` sweep dirs that ran exactly ``config`` (the
    studies of one base share its job: each study's base value is the same run), or None."""
    key = job_key(config)
    for source in sources:
        if not Path(source).is_dir():
            raise RunDirError(
                f"hydra.launcher.reuse_from: {source} is not a sweep dir; give the "
                "hydra.sweep.dir of a sweep run before"
            )
        for job in sorted(p for p in Path(source).iterdir() if p.is_dir()):
            state = RunState.read(job)
            done = state.status == "completed" and state.config is not None
            if done and job_key(cast(DictConfig, state.config)) == key:
                return job
    return None


def reuse_job(source: Path, target: Path) -> None:
    """Copy the completed job ``source`` into the new job dir ``target`` (whole or not at all),
    its summary.json noting where it came from; ``source`` is not changed."""
    if target.exists():
        raise RunDirError(f"{target} exists; a job is reused only into a new dir")
    scratch = target.with_name(f".{target.name}.reuse.partial")
    if scratch.exists():
        shutil.rmtree(scratch)
    shutil.copytree(source, scratch, ignore=shutil.ignore_patterns(LOCK))
    summary = json.loads((scratch / SUMMARY).read_text())
    summary["reused_from"] = str(Path(source).resolve())
    atomic_write_text(scratch / SUMMARY, json.dumps(summary, indent=2) + "\n")
    scratch.rename(target)
