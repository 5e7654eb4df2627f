"""The LightningModule: ESPCN trained with MSE on Y, validated by PSNR, scheduled by config."""

from __future__ import annotations

from typing import Any, cast

import lightning as L
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from espcn_lightning.core.degradations import imresize
from espcn_lightning.core.errors import ConfigError
from espcn_lightning.core.metrics import patch_psnr
from espcn_lightning.core.network import ESPCN
from espcn_lightning.inference.pretrained import load_model


def _plain(config: dict | DictConfig | None) -> dict | None:
    """A resolved plain-dict copy of a config, so checkpoints hold data, never pickled objects."""
    if isinstance(config, DictConfig):
        return cast(dict, OmegaConf.to_container(config, resolve=True))
    return None if config is None else dict(config)


LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss}


def training_loss(
    net: ESPCN, lr: torch.Tensor, hr: torch.Tensor, kind: str = "mse"
) -> torch.Tensor:
    """The loss (``mse`` or ``l1``) of the network against HR targets, or against
    pixel-unshuffled targets (r^2 channels at the LR size) before its PixelShuffle: the same
    elements, so the same loss, computed in fp32 whatever precision the network ran in."""
    unshuffled = hr.shape[-2:] == lr.shape[-2:] and hr.shape[-3] == lr.shape[-3] * net.scale**2
    sr = net.forward_unshuffled(lr) if unshuffled else net(lr)
    return LOSSES[kind](sr.float(), hr)


class ESPCNModule(L.LightningModule):
    """ESPCN with an MSE (or L1) loss; optimiser and scheduler are Hydra configs built in
    configure_optimizers.

    ``last_layer_lr_scale`` multiplies the learning rate of the sub-pixel layer (the paper: 0.1).
    ``loss: l1`` with ``mse_from_epoch: N`` trains with L1, then fine-tunes with MSE (the metric
    PSNR measures) from epoch N on.
    Built by Hydra from ``conf/module/espcn.yaml`` (not recursively: its config arguments stay
    configs, saved as plain hyperparameters in every checkpoint).
    """

    def __init__(
        self,
        net: dict,
        optimizer: dict,
        scheduler: dict | None = None,
        last_layer_lr_scale: float = 1.0,
        image_every_n_epochs: int = 25,
        loss: str = "mse",
        mse_from_epoch: int | None = None,
        init_weights: str | None = None,
    ) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ConfigError(f"module.loss={loss!r}: choose {' or '.join(LOSSES)}")
        self.save_hyperparameters(
            {
                "net": _plain(net),
                "optimizer": _plain(optimizer),
                "scheduler": _plain(scheduler),
                "last_layer_lr_scale": last_layer_lr_scale,
                "image_every_n_epochs": image_every_n_epochs,
                "loss": loss,
                "mse_from_epoch": mse_from_epoch,
                "init_weights": init_weights,
            }
        )
        self.net = instantiate(self.hparams["net"])
        if not isinstance(self.net, ESPCN):
            raise ConfigError(
                f"model={self.hparams['net']['_target_']} has nothing to train; use model=espcn"
            )
        if init_weights is not None:
            self.start_from(init_weights)
        self.best_val_psnr = float("-inf")
        self._loss_sum: torch.Tensor | None = None
        self._loss_steps = 0

    def start_from(self, weights: str) -> None:
        """Fine-tune: begin from a trained network of this architecture (a shipped model's name
        or a weights path), e.g. a robust model from the paper-protocol one of its scale."""
        source = load_model(weights)
        if source.config() != self.net.config():
            raise ConfigError(
                f"module.init_weights={weights!r} is a {source.config()} network, not the "
                f"{self.net.config()} one this run trains; pick weights of the same architecture"
            )
        self.net.load_state_dict(source.state_dict())

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        return self.net(lr)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int):
        lr, hr = batch
        loss = training_loss(self.net, lr, hr, self.loss_kind())
        detached = loss.detach()
        self._loss_sum = detached if self._loss_sum is None else self._loss_sum + detached
        self._loss_steps += 1
        return loss

    def loss_kind(self) -> str:
        """This epoch's loss: the configured one, MSE from ``mse_from_epoch`` on."""
        switch = self.hparams["mse_from_epoch"]
        if switch is not None and self.current_epoch >= switch:
            return "mse"
        return self.hparams["loss"]

    def on_train_epoch_end(self) -> None:
        """Log the epoch's mean training loss once. Summed here rather than by ``self.log`` on
        every step, whose bookkeeping cost about 15% of a step on 2 CPU cores (the bench)."""
        if self._loss_steps and self._loss_sum is not None:
            mean = self._loss_sum / self._loss_steps
            self.log("train/loss", mean, prog_bar=True, sync_dist=True)
        self._loss_sum, self._loss_steps = None, 0

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        """Validation runs in fp32 whatever the training precision, so that its PSNR scores the
        weights as deployed and compares across precisions."""
        lr, hr = batch
        with torch.autocast(self.device.type, enabled=False):
            sr = self.net(lr.float())
            bicubic = patch_psnr(imresize(lr, self.net.scale), hr).mean()
        self.log("val/loss", F.mse_loss(sr, hr), prog_bar=True, batch_size=len(lr), sync_dist=True)
        self.log(
            "val/psnr", patch_psnr(sr, hr).mean(), prog_bar=True, batch_size=len(lr), sync_dist=True
        )
        self.log("val/bicubic_psnr", bicubic, batch_size=len(lr), sync_dist=True)
        if batch_idx == 0 and self._panel_due():
            self._log_panel(lr[:4], sr[:4], hr[:4])

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        psnr = self.trainer.callback_metrics.get("val/psnr")
        if psnr is not None:
            self.best_val_psnr = max(self.best_val_psnr, float(psnr))
            self.log("hp/best_val_psnr", self.best_val_psnr)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Keep the best validation PSNR so far, so a resumed run's ``hp/best_val_psnr`` is too."""
        checkpoint["best_val_psnr"] = self.best_val_psnr

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Restore the best validation PSNR a resumed run had reached."""
        self.best_val_psnr = checkpoint.get("best_val_psnr", float("-inf"))

    def _panel_due(self) -> bool:
        every = self.hparams["image_every_n_epochs"]
        return (
            every > 0
            and not self.trainer.sanity_checking
            and self.current_epoch % every == 0
            and hasattr(getattr(self.logger, "experiment", None), "add_image")
        )

    def _log_panel(self, lr: torch.Tensor, sr: torch.Tensor, hr: torch.Tensor) -> None:
        """Rows of bicubic | ESPCN | HR for a few validation patches."""
        bicubic = imresize(lr, self.net.scale)
        rows = torch.cat([bicubic, sr, hr], dim=-1).clamp(0, 1)
        panel = torch.cat(list(rows), dim=-2)
        experiment: Any = getattr(self.logger, "experiment", None)
        experiment.add_image("val/bicubic_espcn_hr", panel, self.current_epoch)

    def configure_optimizers(self):
        """One parameter group, or two when the last layer learns at its own rate."""
        groups: list[dict] = [{"params": list(self.net.parameters())}]
        if self.hparams["last_layer_lr_scale"] != 1.0:
            body = [p for name, p in self.net.named_parameters() if not name.startswith("tail.")]
            tail_lr = self.hparams["optimizer"]["lr"] * self.hparams["last_layer_lr_scale"]
            groups = [{"params": body}, {"params": list(self.net.tail.parameters()), "lr": tail_lr}]
        optimizer = instantiate(self.hparams["optimizer"], _partial_=True)(groups)
        if not self.hparams["scheduler"]:
            return optimizer
        scheduler = instantiate(self.hparams["scheduler"], _partial_=True)(optimizer)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "monitor": "val/loss", "interval": "epoch"},
        }
