"""The LightningDataModule: training images to in-memory LR/HR patch tensors, split and batched."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, DistributedSampler, TensorDataset

from espcn_lightning.core.colour import luma
from espcn_lightning.core.degradations import Bicubic, Degradation, modcrop
from espcn_lightning.core.errors import ConfigError
from espcn_lightning.core.options import check_positive, check_scale
from espcn_lightning.datasets.catalogue import load_dataset

log = logging.getLogger(__name__)


def extract_patches(
    hr: torch.Tensor, degradation: Degradation, scale: int, patch: int, stride: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Degrade one (H, W) HR image in [0, 1] and cut aligned LR (patch^2) / HR patches from it."""
    hr = modcrop(hr, scale)
    hr_patches = hr.unfold(0, patch * scale, stride * scale).unfold(
        1, patch * scale, stride * scale
    )
    if getattr(degradation, "per_patch", False):
        lr_patches = degrade_each_patch(hr, degradation, scale, patch, stride)
    else:
        lr_patches = degradation(hr).unfold(0, patch, stride).unfold(1, patch, stride)
    rows, cols = lr_patches.shape[:2]
    hr_patches = hr_patches[:rows, :cols]
    return lr_patches.reshape(-1, 1, patch, patch), hr_patches.reshape(
        -1, 1, patch * scale, patch * scale
    )


#: HR pixels around each patch that a per-patch degradation sees (its blur and resize kernels
#: reach this far), so a patch's LR is what degrading the whole image would give there.
PATCH_MARGIN = 12


def degrade_each_patch(
    hr: torch.Tensor, degradation: Degradation, scale: int, patch: int, stride: int
) -> torch.Tensor:
    """(rows, cols, patch, patch) LR patches, each degraded on its own with its own draw: the HR
    window around it (with a margin, symmetric padding at the image's edges) degraded, then
    cropped to the patch."""
    margin = -(-PATCH_MARGIN // scale)
    padded = np.pad(hr.numpy(), margin * scale, mode="symmetric")
    window = (patch + 2 * margin) * scale
    windows = torch.from_numpy(padded).unfold(0, window, stride * scale)
    windows = windows.unfold(1, window, stride * scale)
    rows, cols = windows.shape[:2]
    lr = degradation(windows.reshape(-1, window, window))
    lr = lr[:, margin : margin + patch, margin : margin + patch]
    return lr.reshape(rows, cols, patch, patch)


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


def symmetry_indices(shape: tuple[int, ...], scale: int = 1) -> torch.Tensor:
    """(8, numel) gathers that apply each of the 8 dihedral symmetries to a flattened patch.

    ``shape`` is one patch, (C, h, w); with ``scale`` > 1 the C = scale^2 channels are a
    pixel-unshuffled HR patch, and the symmetry acts on the HR image they make up.
    """
    index = torch.arange(torch.Size(shape).numel()).reshape(1, *shape)
    if scale > 1:
        index = F.pixel_shuffle(index, scale)
    variants = [dihedral(index, k) for k in range(8)]
    if scale > 1:
        variants = [F.pixel_unshuffle(v, scale) for v in variants]
    return torch.stack([v.flatten() for v in variants])


class PatchBatches(Dataset):
    """Training patches served a whole batch per index, each patch under its own symmetry.

    An index is ``(patch indices, symmetry numbers)``, as ``EpochBatchSampler`` yields them; the
    batch is two gathers from the in-memory tensors. Written by hand because a DataLoader would
    otherwise call ``__getitem__`` once per patch and collate, which cost more than the network's
    step at batch 16. With ``unshuffled_targets`` the HR patches are stored pixel-unshuffled,
    (r^2, h, w) at the LR size, for a loss taken before the network's PixelShuffle.
    """

    def __init__(
        self, lr: torch.Tensor, hr: torch.Tensor, scale: int, unshuffled_targets: bool = False
    ) -> None:
        self.patch_shape = tuple(lr.shape[1:])
        if unshuffled_targets:
            hr = F.pixel_unshuffle(hr, scale)
        self.target_shape = tuple(hr.shape[1:])
        self.lr, self.hr = lr.reshape(len(lr), -1), hr.reshape(len(hr), -1)
        self.lr_symmetries = symmetry_indices(self.patch_shape)
        self.hr_symmetries = symmetry_indices(self.target_shape, scale if unshuffled_targets else 1)

    def __len__(self) -> int:
        return len(self.lr)

    def __getitem__(
        self, batch: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        indices, symmetries = batch
        lr = self.lr[indices].gather(1, self.lr_symmetries[symmetries])
        hr = self.hr[indices].gather(1, self.hr_symmetries[symmetries])
        return lr.view(-1, *self.patch_shape), hr.view(-1, *self.target_shape)


class EpochBatchSampler(DistributedSampler):
    """Per epoch, a seeded permutation of the training patches cut into full batches, and a
    symmetry (one of 8, or the identity without ``augment``) drawn for every patch.

    The draw depends only on (seed, epoch), so a run is reproducible and a resumed run sees the
    batches it would have seen. It is a DistributedSampler so that Lightning leaves it in place
    under DDP: each of ``num_replicas`` processes takes every num_replicas-th batch.
    """

    def __init__(
        self,
        dataset: PatchBatches,
        batch_size: int,
        seed: int,
        augment: bool = True,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, seed=seed, drop_last=True)
        self.patches, self.batch_size, self.augment = dataset, batch_size, augment

    def __len__(self) -> int:
        return len(self.patches) // self.batch_size // self.num_replicas

    def __iter__(self):
        state = np.random.SeedSequence([self.seed, self.epoch]).generate_state(1)[0]
        generator = torch.Generator().manual_seed(int(state))
        order = torch.randperm(len(self.patches), generator=generator)
        symmetries = torch.randint(8, (len(self.patches),), generator=generator)
        if not self.augment:
            symmetries.zero_()
        size = self.batch_size
        for i in range(self.rank, len(self) * self.num_replicas, self.num_replicas):
            yield order[i * size : (i + 1) * size], symmetries[i * size : (i + 1) * size]


class SRDataModule(L.LightningDataModule):
    """Training sets (T91 by default) as LR/HR patches with a seeded random train/val split.

    Each training batch is served by two gathers (``PatchBatches``). ``unshuffled_targets`` stores
    the HR targets pixel-unshuffled, so the loss is taken before the network's PixelShuffle
    (``module.training_loss``).
    ``val_set`` validates on whole held-out images instead (every ``val_every``-th of that set,
    never trained on; ``val_fraction`` unused), the same whatever the training sets.
    """

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
        unshuffled_targets: bool = True,
        val_set: str | None = None,
        val_every: int = 10,
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
        self.unshuffled_targets = unshuffled_targets
        self.val_set_name, self.val_every = val_set, check_positive("data.val_every", val_every)
        self.train_set: PatchBatches | None = None
        self.val_set: TensorDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        """Decode, degrade and cut the training images once; split the patches by seed."""
        if self.train_set is not None:
            return
        if self.val_set_name is not None:
            lr, hr, val, train = self._held_out_images()
        else:
            images = [
                item for name in self.train_sets for item in load_dataset(self.data_dir, name)
            ]
            lr, hr = build_patches(
                images, self.degradation, self.scale, self.patch_size, self.stride
            )
            order = torch.randperm(len(lr), generator=torch.Generator().manual_seed(self.seed))
            n_val = max(1, round(len(lr) * self.val_fraction))
            val, train = order[:n_val], order[n_val:]
        if len(train) < self.batch_size:
            raise ConfigError(
                f"data.batch_size={self.batch_size} is larger than the {len(train)} training "
                "patches, so no full batch could be drawn and nothing would train; lower "
                "data.batch_size or data.stride, or add training images"
            )
        self.train_set = PatchBatches(lr[train], hr[train], self.scale, self.unshuffled_targets)
        self.val_set = TensorDataset(lr[val], hr[val])
        log.info(
            "%d training and %d validation patches from %s",
            len(train),
            len(val),
            "+".join(self.train_sets),
        )

    def _held_out_images(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Patches of every image, and which are validation: those of every ``val_every``-th
        image of ``val_set`` (in file-name order), never trained on, so that runs on different
        training sets are validated on the same images."""
        held = load_dataset(self.data_dir, f"{self.val_set_name}/{self.val_every}")
        names = {name for name, _ in held}
        images = [
            item
            for name in self.train_sets
            for item in load_dataset(self.data_dir, name)
            if name != self.val_set_name or item[0] not in names
        ]
        patch, stride = self.patch_size, self.stride
        lr_train, hr_train = build_patches(images, self.degradation, self.scale, patch, stride)
        lr_val, hr_val = build_patches(held, self.degradation, self.scale, patch, stride)
        order = torch.randperm(len(lr_train), generator=torch.Generator().manual_seed(self.seed))
        val = torch.arange(len(lr_val)) + len(lr_train)
        return torch.cat([lr_train, lr_val]), torch.cat([hr_train, hr_val]), val, order

    def train_dataloader(self) -> DataLoader:
        assert self.train_set is not None, "setup() builds the patches first"
        sampler = EpochBatchSampler(
            self.train_set,
            self.batch_size,
            self.seed,
            self.augment,
            num_replicas=self.trainer.world_size if self.trainer else 1,
            rank=self.trainer.global_rank if self.trainer else 0,
        )
        return DataLoader(
            self.train_set,
            sampler=sampler,
            batch_size=None,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader:
        assert self.val_set is not None, "setup() builds the patches first"
        return DataLoader(self.val_set, batch_size=256, num_workers=0)
