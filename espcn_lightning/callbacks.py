"""Lightning callbacks that the library does not provide: epoch wall time."""

from __future__ import annotations

import time

import lightning as L


class EpochTimer(L.Callback):
    """Log each training epoch's wall time as ``time/epoch_seconds``."""

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        pl_module.log("time/epoch_seconds", time.perf_counter() - self._start)
