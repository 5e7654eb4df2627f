"""Atomic checkpoint writes: a kill during a save never leaves a broken ``last.ckpt``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write to a temporary file beside the target, fsync it, then rename over the target.

    Lightning's own writer opens the target and writes in place, so a SIGKILL mid-write
    truncates the previous good checkpoint; a rename within one folder is atomic on POSIX.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        with open(scratch, "wb") as handle:
            torch.save(checkpoint, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(scratch, target)
