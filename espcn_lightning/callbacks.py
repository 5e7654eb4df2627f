"""Lightning callbacks the library does not provide: epoch wall time and a non-finite loss guard."""

from __future__ import annotations

import math
import time

import lightning as L

from espcn_lightning.errors import NonFiniteLossError


class EpochTimer(L.Callback):
    """Log each training epoch's wall time as ``time/epoch_seconds``."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.log("time/epoch_seconds", time.perf_counter() - self._start)


class NonFiniteGuard(L.Callback):
    """Stop at the first NaN/inf training loss, before it reaches a checkpoint.

    Checkpoints are written at epoch ends, so the last one on disk predates the bad step.
    """

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None and not math.isfinite(float(loss)):
            lr = trainer.optimizers[0].param_groups[0]["lr"]
            raise NonFiniteLossError(
                f"training loss is {float(loss)} at epoch {trainer.current_epoch}, "
                f"step {trainer.global_step}, learning rate {lr:.3g}; the last good checkpoint is "
                "kept: lower optim.optimizer.lr or raise data.batch_size and resume or rerun"
            )


class FlushLoggersOnCheckpoint(L.Callback):
    """Flush every logger when a checkpoint is written, so a run killed later and resumed from it
    continues its TensorBoard history without a gap (unflushed events would die with the process).
    """

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module, checkpoint: dict) -> None:
        for logger in trainer.loggers:
            flush = getattr(getattr(logger, "experiment", None), "flush", None)
            if callable(flush):
                flush()
