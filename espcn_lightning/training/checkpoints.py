"""Checkpoints: written whole or not at all (a kill during a save never leaves a broken
``last.ckpt``), found as Lightning resumes them, and checked before a resume trusts one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from omegaconf import DictConfig

from espcn_lightning.core.errors import RunDirError, WeightsError
from espcn_lightning.core.files import atomic_output


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint with ``files.atomic_output`` (durable): Lightning's own writer opens
    the target and writes in place, so a SIGKILL mid-write would truncate the last good one."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(target, durable=True) as scratch, open(scratch, "wb") as handle:
            torch.save(checkpoint, handle)


def last_checkpoint(checkpoints: Path) -> Path | None:
    """The checkpoint ``ckpt_path=last`` resumes from, as Lightning picks it: the newest
    ``last*.ckpt`` (a moved run's resume writes ``last-v1.ckpt``)."""
    return max(checkpoints.glob("last*.ckpt"), key=lambda p: p.stat().st_mtime, default=None)


def check_checkpoint(ckpt_path: str | None, checkpoints: Path) -> None:
    """Refuse a ``ckpt_path`` that is missing or does not load before any data is prepared; for a
    broken one, name the intact checkpoints beside it. ``last`` with no last checkpoint yet (a run
    killed before its first) is left to Lightning, which starts afresh."""
    if ckpt_path is None or ckpt_path in ("hpc", "best", "registry"):
        return
    if ckpt_path == "last":
        path = last_checkpoint(checkpoints)
        if path is None:
            return
    else:
        path = Path(str(ckpt_path))
        if not path.is_file():
            raise WeightsError(
                f"ckpt_path={ckpt_path}: no such checkpoint file; give ckpt_path=last to resume "
                "this run dir, or the path of a .ckpt"
            )
    problem = checkpoint_problem(path)
    if problem is None:
        return
    if problem == FOREIGN:
        raise WeightsError(
            f"ckpt_path={ckpt_path}: {path} {FOREIGN}; resume only this project's checkpoints "
            "(a run dir's checkpoints/), or load weights for a new run with a model.pt"
        )
    others = [
        str(p)
        for p in sorted(path.parent.glob("*.ckpt"))
        if p != path and checkpoint_problem(p) is None
    ]
    hint = (
        f"intact: {', '.join(others)}; resume from one with ckpt_path=PATH"
        if others
        else "no intact checkpoint is left beside it; start again in a new hydra.run.dir"
    )
    raise WeightsError(f"ckpt_path={ckpt_path}: {path} is truncated or corrupt; {hint}")


FOREIGN = "is not a checkpoint of an espcn-lightning training run"


def checkpoint_problem(path: Path) -> str | None:
    """Why a checkpoint cannot be resumed (None if it can): it does not load whole, or it is
    another project's (no epoch, step, or ESPCN weights in it)."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return "is truncated or corrupt"
    state = payload.get("state_dict") if isinstance(payload, dict) else None
    if not (
        isinstance(state, dict)
        and {"epoch", "global_step"} <= payload.keys()
        and any(str(key).startswith("net.") for key in state)
    ):
        return FOREIGN
    return None


def checkpoint_path(ckpt_path: str, run_dir: Path) -> Path | None:
    """The file a ``ckpt_path`` setting names (for 'last', as Lightning resolves it)."""
    return last_checkpoint(run_dir / "checkpoints") if ckpt_path == "last" else Path(ckpt_path)


def epochs_done(path: Path) -> int:
    """How many epochs a checkpoint of this project has trained (they are written at epoch ends)."""
    return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"]) + 1


def resumed_step(cfg: DictConfig) -> int | None:
    """The global step a resume continues from (None for a new run): TensorBoard is told to drop
    what a killed run logged past its last checkpoint, or the resumed epochs would show twice."""
    if not cfg.ckpt_path or cfg.ckpt_path in ("hpc", "best", "registry"):
        return None
    path = checkpoint_path(str(cfg.ckpt_path), Path(cfg.paths.output_dir))
    if path is None or not path.is_file():
        return None
    return int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])


def check_budget(cfg: DictConfig, run_dir: Path) -> None:
    """Refuse a resume whose ``trainer.max_epochs`` ends before the checkpoint's epoch (Lightning
    would stop with a traceback)."""
    path = checkpoint_path(cfg.ckpt_path, run_dir)
    if path is None:
        return
    done = epochs_done(path)
    budget = cfg.trainer.get("max_epochs")
    if budget is not None and budget != -1 and budget < done:
        raise RunDirError(
            f"ckpt_path={cfg.ckpt_path}: that checkpoint has trained {done} epochs already, "
            f"more than trainer.max_epochs={budget}; give trainer.max_epochs={done} or more"
        )
