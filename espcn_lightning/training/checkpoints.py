"""Atomic checkpoint writes: a kill during a save never leaves a broken ``last.ckpt``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from espcn_lightning.core.files import atomic_output


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint with ``files.atomic_output`` (durable): Lightning's own writer opens
    the target and writes in place, so a SIGKILL mid-write would truncate the last good one."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(target, durable=True) as scratch:
            torch.save(checkpoint, scratch)
