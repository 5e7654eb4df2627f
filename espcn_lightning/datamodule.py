"""The LightningDataModule: training images to in-memory LR/HR patch tensors, split and batched."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from espcn_lightning.colour import luma
from espcn_lightning.data import load_dataset
from espcn_lightning.degradations import Bicubic, Degradation, modcrop
from espcn_lightning.errors import ConfigError
from espcn_lightning.options import check_positive, check_scale

log = logging.getLogger(__name__)


def extract_patches(
    hr: torch.Tensor, degradation: Degradation, scale: int, patch: int, stride: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Degrade one (H, W) HR image in [0, 1] and cut aligned LR (patch^2) / HR patches from it."""
    hr = modcrop(hr, scale)
    lr = degradation(hr)
    lr_patches = lr.unfold(0, patch, stride).unfold(1, patch, stride)
    hr_patches = hr.unfold(0, patch * scale, stride * scale).unfold(
        1, patch * scale, stride * scale
    )
    rows, cols = lr_patches.shape[:2]
    hr_patches = hr_patches[:rows, :cols]
    return lr_patches.reshape(-1, 1, patch, patch), hr_patches.reshape(
        -1, 1, patch * scale, patch * scale
    )


def build_patches(
    images: Sequence[tuple[str, np.ndarray]],
    degradation: Degradation,
    scale: int,
    patch: int,
    stride: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """LR and HR float32 patch tensors of the Y channel of every image; too-small images skipped."""
    lrs, hrs = [], []
    for name, image in images:
        y = luma(image)
        if min(y.shape) < patch * scale:
            log.warning(
                "skipping %s: %dx%d is smaller than one %d-pixel HR patch",
                name,
                y.shape[1],
                y.shape[0],
                patch * scale,
            )
            continue
        hr = torch.from_numpy(y).to(torch.float64) / 255.0
        lr_patches, hr_patches = extract_patches(hr, degradation, scale, patch, stride)
        lrs.append(lr_patches.float())
        hrs.append(hr_patches.float())
    if not lrs:
        raise ConfigError(f"no training image is at least {patch * scale} pixels on each side")
    return torch.cat(lrs), torch.cat(hrs)


def dihedral(image: torch.Tensor, index: int) -> torch.Tensor:
    """One of the 8 flips/90-degree rotations of the last two dims (0 is the identity)."""
    if index & 4:
        image = image.transpose(-2, -1)
    if index & 2:
        image = image.flip(-2)
    if index & 1:
        image = image.flip(-1)
    return image


class PatchDataset(Dataset):
    """LR/HR patch pairs held as tensors, optionally under a random flip/rotation each draw."""

    def __init__(self, lr: torch.Tensor, hr: torch.Tensor, augment: bool = False) -> None:
        self.lr, self.hr, self.augment = lr, hr, augment

    def __len__(self) -> int:
        return len(self.lr)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        lr, hr = self.lr[index], self.hr[index]
        if self.augment:
            k = int(torch.randint(8, ()))
            lr, hr = dihedral(lr, k), dihedral(hr, k)
        return lr, hr


class SRDataModule(L.LightningDataModule):
    """Training sets (T91 by default) as LR/HR patches with a seeded random train/val split."""

    def __init__(
        self,
        data_dir: str,
        train_sets: Sequence[str] = ("T91",),
        degradation: Degradation | None = None,
        scale: int = 3,
        patch_size: int = 17,
        stride: int = 14,
        val_fraction: float = 0.05,
        batch_size: int = 16,
        augment: bool = True,
        seed: int = 42,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        if not 0 < val_fraction < 1:
            raise ConfigError(f"data.val_fraction={val_fraction}: use a fraction in (0, 1)")
        check_scale(scale)
        for option, value in (
            ("data.patch_size", patch_size),
            ("data.stride", stride),
            ("data.batch_size", batch_size),
        ):
            check_positive(option, value)
        self.data_dir, self.train_sets = data_dir, list(train_sets)
        self.degradation = degradation or Bicubic(scale)
        self.scale, self.patch_size, self.stride = scale, patch_size, stride
        self.val_fraction, self.batch_size, self.augment = val_fraction, batch_size, augment
        self.seed, self.num_workers = seed, num_workers
        self.train_set: PatchDataset | None = None
        self.val_set: PatchDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        """Decode, degrade and cut the training images once; split the patches by seed."""
        if self.train_set is not None:
            return
        images = [item for name in self.train_sets for item in load_dataset(self.data_dir, name)]
        lr, hr = build_patches(images, self.degradation, self.scale, self.patch_size, self.stride)
        order = torch.randperm(len(lr), generator=torch.Generator().manual_seed(self.seed))
        n_val = max(1, round(len(lr) * self.val_fraction))
        val, train = order[:n_val], order[n_val:]
        if len(train) < self.batch_size:
            raise ConfigError(
                f"data.batch_size={self.batch_size} is larger than the {len(train)} training "
                "patches, so no full batch could be drawn and nothing would train; lower "
                "data.batch_size or data.stride, or add training images"
            )
        self.train_set = PatchDataset(lr[train], hr[train], augment=self.augment)
        self.val_set = PatchDataset(lr[val], hr[val])
        log.info(
            "%d training and %d validation patches from %s",
            len(train),
            n_val,
            "+".join(self.train_sets),
        )

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None, "setup() builds the patches first"
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            shuffle=True,
            num_workers=self.num_workers,
            drop_last=True,
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader:
        assert self.val_set is not None, "setup() builds the patches first"
        return DataLoader(self.val_set, batch_size=256, num_workers=0)
