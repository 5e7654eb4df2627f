"""Lightning callbacks the library does not provide: epoch wall time, a non-finite loss guard,
logger flushing at checkpoints, plain epoch lines for logs that are not a terminal, and
channels_last training."""

from __future__ import annotations

import logging
import math
import time

import lightning as L
import torch
from lightning.pytorch.callbacks import ProgressBar

from espcn_lightning.core.errors import NonFiniteLossError

log = logging.getLogger(__name__)


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
                "kept: train a new run with a lower optim.optimizer.lr or a larger "
                "data.batch_size (a resume keeps the optimizer's state)"
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


class EpochLines(ProgressBar):
    """One plain line per epoch (its metrics and seconds) in place of the progress bar, for output
    sent to a file or pipe, where every bar redraw stays: a default run wrote 37 MB of them.

    Lightning has no such bar (its TQDM bar only redraws less often). Each line is written when the
    next epoch starts or training ends, once the module has logged the epoch's training loss.
    """

    def __init__(self) -> None:
        super().__init__()
        self._enabled, self._start, self._pending = True, 0.0, False

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._report(trainer, pl_module, trainer.current_epoch)
        self._start, self._pending = time.perf_counter(), True

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._report(trainer, pl_module, trainer.current_epoch)

    def _report(self, trainer: L.Trainer, pl_module: L.LightningModule, epochs_done: int) -> None:
        """Log the epoch just finished (the ``epochs_done``-th), if one is pending."""
        if not (self._pending and self._enabled):
            return
        self._pending = False
        metrics = {k: v for k, v in self.get_metrics(trainer, pl_module).items() if k != "v_num"}
        values = ", ".join(
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in sorted(metrics.items())
        )
        seconds = time.perf_counter() - self._start
        log.info("epoch %d/%d: %s (%.1f s)", epochs_done, trainer.max_epochs, values, seconds)


class ChannelsLast(L.Callback):
    """Train the module's weights in channels_last (NHWC) memory format, which oneDNN's CPU
    convolutions run faster here (the bench's training table); the values are unchanged, and so
    is the network that is saved and deployed."""

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.to(memory_format=torch.channels_last)
