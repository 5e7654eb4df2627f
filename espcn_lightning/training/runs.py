"""A training run's dir: claimed under a lock, recorded once it is this run's, resumed only as the
same run, and never rewritten by another run.

Hydra writes a job's ``.hydra/`` files and opens its log file before the task starts, so a run
refused for any reason would already have rewritten the records of the run it refused to touch.
``conf/train.yaml`` turns both off (``hydra.output_subdir: null``, a log file opened on its first
line) and :func:`claim` writes the same ``.hydra/`` files itself once the dir is this run's.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf, open_dict

from espcn_lightning.core.errors import OutputError, RunDirError, user_error
from espcn_lightning.core.files import atomic_output, is_scratch
from espcn_lightning.training.checkpoints import check_budget, check_checkpoint, last_checkpoint
from espcn_lightning.training.identity import RUN, identity_changes
from espcn_lightning.training.locks import DirLock, in_use

RECORD = ".hydra"
SUMMARY = "summary.json"

FRESH, RESUME, SKIP = "fresh", "resume", "skip"

log = logging.getLogger(__name__)


def atomic_write_text(path: Path, text: str) -> None:
    """Write a text file whole or not at all (files.atomic_output)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as scratch:
        scratch.write_text(text)


def read_summary(directory: Path) -> tuple[dict | None, str | None]:
    """A run's summary.json as (summary, None), (None, what is wrong with it), or (None, None)."""
    path = Path(directory) / SUMMARY
    if not path.is_file():
        return None, None
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        return None, f"{path}: unreadable ({type(error).__name__})"
    if not isinstance(summary, dict) or not isinstance(summary.get("status"), str):
        return None, f"{path}: has no status"
    return summary, None


@dataclass
class RunState:
    """What a run dir holds: its saved config and overrides, its summary, its checkpoints."""

    directory: Path
    config: DictConfig | None = None
    overrides: list[str] | None = None
    summary: dict | None = None
    summary_problem: str | None = None
    checkpoints: list[Path] = field(default_factory=list)

    @classmethod
    def read(cls, directory: Path) -> RunState:
        """Read a run dir without changing anything in it."""
        directory = Path(directory)
        record = directory / RECORD
        saved = (
            OmegaConf.load(record / "config.yaml") if (record / "config.yaml").is_file() else None
        )
        config = saved if isinstance(saved, DictConfig) else None
        overrides = None
        if (record / "overrides.yaml").is_file():
            overrides = [
                str(o) for o in yaml.safe_load((record / "overrides.yaml").read_text()) or []
            ]
        summary, problem = read_summary(directory)
        checkpoints = sorted((directory / "checkpoints").glob("*.ckpt"))
        return cls(directory, config, overrides, summary, problem, checkpoints)

    @property
    def status(self) -> str:
        """'completed', 'failed', ... from summary.json, or what stands in for it."""
        if self.summary is not None:
            return self.summary["status"]
        if self.summary_problem is not None:
            return "malformed summary.json"
        return "interrupted" if self.checkpoints else "no summary"

    @property
    def holds_a_run(self) -> bool:
        """Whether a run got far enough here to leave something worth keeping: checkpoints, or a
        summary of a run that did not fail (one that failed before its first checkpoint, a
        refused option say, left nothing to keep, and its dir may be used again)."""
        failed_early = self.status == "failed" and not self.checkpoints
        return bool(self.checkpoints) or ((self.directory / SUMMARY).exists() and not failed_early)

    @property
    def last_checkpoint(self) -> Path | None:
        """The checkpoint ``ckpt_path=last`` would resume from, if there is one."""
        return last_checkpoint(self.directory / "checkpoints")


def plan(state: RunState, cfg: DictConfig, overrides: list[str], multirun: bool) -> str:
    """FRESH, RESUME or SKIP for a run asked into ``state.directory``, or RunDirError.

    A single run never goes into a dir that holds another run's checkpoints or summary unless
    asked to resume it (``ckpt_path``), and a resume, or a restart over an attempt killed before
    its first checkpoint, keeps the run's identity (``identity.RUN``). Resuming a completed run
    with the same budget is a SKIP: it would train nothing, and its records stay as they are. A
    sweep job re-run with the same overrides skips a completed job and resumes an interrupted one.
    """
    where = state.directory
    if multirun and cfg.ckpt_path is None:
        if state.overrides is not None and sorted(state.overrides) != sorted(overrides):
            raise RunDirError(
                f"{where} holds another job ({' '.join(state.overrides) or 'no overrides'}); "
                "a changed sweep needs a new hydra.sweep.dir"
            )
        check_identity(state, cfg, "this job")
        if state.status == "completed":
            return SKIP
        return RESUME if state.last_checkpoint else FRESH
    if cfg.ckpt_path is None:
        if state.holds_a_run:
            raise RunDirError(
                f"{where} already holds a run ({state.status}); pass ckpt_path=last to continue "
                "it, or choose a new hydra.run.dir"
            )
        if state.status != "failed":
            check_identity(state, cfg, "a restart of a run killed before its first checkpoint")
        return FRESH
    source = checkpoint_run(cfg.ckpt_path, where)
    if source != where.resolve() and state.holds_a_run:
        raise RunDirError(
            f"{where} already holds a run ({state.status}); continue {cfg.ckpt_path} into a new "
            "hydra.run.dir"
        )
    source_state = state if source == where.resolve() else RunState.read(source)
    if source_state.checkpoints and source_state.config is None:
        raise RunDirError(
            f"{source} has checkpoints but no saved config ({RECORD}/config.yaml) to check a "
            "resume against; train a new run instead"
        )
    check_identity(source_state, cfg, f"ckpt_path={cfg.ckpt_path}")
    if cfg.ckpt_path == "last" and state.last_checkpoint is None:
        return FRESH
    if cfg.ckpt_path == "last" and state.status == "completed" and same_budget(state, cfg):
        return SKIP
    return RESUME


def same_budget(state: RunState, cfg: DictConfig) -> bool:
    """Whether a resume asks for no more epochs than the run had (so it would train nothing)."""
    saved = OmegaConf.select(state.config, "trainer.max_epochs") if state.config else None
    return saved is not None and cfg.trainer.get("max_epochs") == saved


def checkpoint_run(ckpt_path: str, run_dir: Path) -> Path:
    """The run dir a ``ckpt_path`` belongs to: ``run_dir`` for 'last', else the folder that holds
    the checkpoint's ``checkpoints/`` folder (or the checkpoint's own folder)."""
    if ckpt_path == "last":
        return run_dir.resolve()
    path = Path(ckpt_path).resolve()
    return path.parent.parent if path.parent.name == "checkpoints" else path.parent


def check_identity(state: RunState, cfg: DictConfig, what: str) -> None:
    """Refuse to continue the run in ``state`` under a config that makes it another run."""
    if state.config is None:
        return
    changes = identity_changes(state.config, cfg)
    if changes:
        more = f" (and {len(changes) - 1} more)" if len(changes) > 1 else ""
        raise RunDirError(
            f"{what}: this config changes the run in {state.directory}: {changes[0]}{more}; a "
            f"resume keeps its {', '.join(RUN[:-1])} and {RUN[-1]} (trainer settings "
            "such as max_epochs may change): train a new run into another dir instead"
        )


def is_rank_zero() -> bool:
    """Whether this is the process that owns the run's records (rank 0 under DDP or SLURM)."""
    for name in ("RANK", "SLURM_PROCID"):
        if name in os.environ:
            return int(os.environ[name]) == 0
    return int(os.environ.get("NODE_RANK", 0)) == 0 and int(os.environ.get("LOCAL_RANK", 0)) == 0


def remove_scratch(directory: Path) -> list[Path]:
    """Delete the scratch files of atomic writes (``files.atomic_output``) a killed process left;
    called under the lock, when no other process can be writing here."""
    leftovers = [
        path
        for folder in (directory, directory / RECORD, directory / "checkpoints")
        for path in folder.glob(".*")
        if path.is_file() and is_scratch(path)
    ]
    for path in leftovers:
        path.unlink()
    return leftovers


def write_record(directory: Path, cfg: DictConfig, overrides: list[str]) -> None:
    """Save the run's config, Hydra config and overrides in ``.hydra/``, as Hydra itself would."""
    record = directory / RECORD
    atomic_write_text(record / "config.yaml", OmegaConf.to_yaml(cfg))
    hydra = OmegaConf.create({"hydra": OmegaConf.to_container(HydraConfig.get(), resolve=False)})
    atomic_write_text(record / "hydra.yaml", OmegaConf.to_yaml(hydra))
    atomic_write_text(record / "overrides.yaml", yaml.safe_dump(overrides))


class Run:
    """A claimed run dir: the config to train with, and the summary written as the run ends.

    Used as a context manager: an exception that escapes marks the run failed (interrupted for
    Ctrl-C) in its summary, and the lock is released however the run ends.
    """

    def __init__(
        self,
        directory: Path,
        config: DictConfig,
        action: str,
        lock: DirLock | None = None,
        state: RunState | None = None,
    ) -> None:
        self.directory, self.config, self.action, self.lock = directory, config, action, lock
        self.state = state or RunState(directory)
        self.finished = False

    @property
    def skipped(self) -> bool:
        """A completed job of a re-run sweep: nothing to do, nothing written."""
        return self.action == SKIP

    def finish(self, summary: dict) -> None:
        """Write summary.json (process rank 0 only), noting where a resume started from."""
        self.finished = True
        if self.lock is None:
            return
        if self.action == RESUME:
            source = self.config.ckpt_path
            summary = {
                **summary,
                "resumed_from": "checkpoints/last.ckpt" if source == "last" else source,
            }
        atomic_write_text(self.directory / SUMMARY, json.dumps(summary, indent=2) + "\n")

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if error is not None and not self.finished:
                interrupted = isinstance(error, KeyboardInterrupt | SystemExit)
                refusal = user_error(error)
                outcome = {
                    "status": "interrupted" if interrupted else "failed",
                    "error": str(refusal) if refusal else f"{type(error).__name__}: {error}",
                }
                try:
                    self.finish(outcome)
                except OutputError as unwritten:  # a full disk: the error that ended the run stands
                    log.warning("%s; the run's summary.json was not written", unwritten)
        finally:
            if self.lock is not None:
                self.lock.release()


def claim(cfg: DictConfig, overrides: list[str] | None = None) -> Run:
    """Take this Hydra job's run dir, or raise a UserError (RunDirError; WeightsError for a missing
    or broken ``ckpt_path``) with nothing in the dir changed.

    Decides from the dir's contents (read only), then locks it, decides again under the lock,
    removes scratch files of killed writers and writes the run's ``.hydra/`` record (with
    ``overrides``, by default the job's: a study's trial gives its parameters). Processes
    other than rank 0 (DDP) only follow.
    """
    directory = Path(cfg.paths.output_dir)
    if not is_rank_zero():
        return Run(directory, cfg, FRESH)
    hydra = HydraConfig.get()
    multirun = hydra.mode == RunMode.MULTIRUN
    option = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    if overrides is None:
        overrides = [str(o) for o in hydra.overrides.task]
    holder = DirLock.holder(directory)
    if holder is not None:
        raise RunDirError(in_use(directory, holder, option))
    check_checkpoint(cfg.ckpt_path, directory / "checkpoints")
    state = RunState.read(directory)
    action = plan(state, cfg, overrides, multirun)
    if action == SKIP:
        return Run(directory, cfg, SKIP, state=state)
    config = cfg.copy()
    if action == RESUME:
        if cfg.ckpt_path is None:
            with open_dict(config):
                config.ckpt_path = "last"
        check_budget(config, directory)
    lock = DirLock.acquire(directory, option)
    try:
        state = RunState.read(directory)
        if plan(state, cfg, overrides, multirun) != action:
            raise RunDirError(f"{directory} changed while this run started; run it again")
        if lock.stale:
            log.warning(
                "%s: took over the stale lock of %s, no longer running", directory, lock.stale
            )
        for path in remove_scratch(directory):
            log.warning("%s: removed %s, a partial write of a killed run", directory, path.name)
        write_record(directory, config, overrides)
    except BaseException:
        lock.release()
        raise
    return Run(directory, config, action, lock, state)
