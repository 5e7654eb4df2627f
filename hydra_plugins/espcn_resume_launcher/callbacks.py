"""Hydra callbacks of this project: a run or sweep dir that cannot be created is refused in one
line before Hydra tries (its own attempt ends in a traceback, before any task code runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from espcn_lightning.core.errors import fail
from espcn_lightning.core.files import output_error


def make_dir(folder: Path, option: str) -> None:
    """Create ``folder`` as Hydra would, or end in one line naming ``option`` and the cause."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        refusal = output_error(folder, error)
        if refusal is error:
            raise
        fail(type(refusal)(f"{option}: {refusal}"))


class WritableOutputDir(Callback):
    """Create the run dir (``hydra.run.dir``) or the sweep dir (``hydra.sweep.dir``) first."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        make_dir(Path(str(config.hydra.run.dir)), "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        make_dir(Path(str(config.hydra.sweep.dir)), "hydra.sweep.dir")
