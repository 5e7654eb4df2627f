"""The datamodule: aligned LR/HR patches, a seeded split, the eight dihedral augmentations, and
whole-batch training data: each epoch covers the training set once, under all 8 symmetries,
deterministically per seed, with LR and HR (or its pixel-unshuffled form) kept aligned."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from espcn_lightning.core.degradations import Bicubic, GaussianBlur
from espcn_lightning.core.errors import ConfigError
from espcn_lightning.datasets.catalogue import load_dataset
from espcn_lightning.datasets.datamodule import (
    EpochBatchSampler,
    PatchBatches,
    SRDataModule,
    build_patches,
    dihedral,
)


def test_patches_are_aligned_lr_hr_pairs(data_dir):
    dm = SRDataModule(str(data_dir), degradation=GaussianBlur(3), augment=False, val_fraction=0.05)
    dm.setup()
    lr, hr = dm.val_set[0]
    assert lr.shape == (1, 17, 17) and hr.shape == (1, 51, 51)
    inner = (..., slice(1, -1), slice(1, -1))
    torch.testing.assert_close(GaussianBlur(3)(hr.double()).float()[inner], lr[inner])
    assert len(dm.val_set) == round((len(dm.train_set) + len(dm.val_set)) * 0.05)


def test_the_split_is_fixed_by_the_seed(data_dir):
    def val_patch(seed):
        dm = SRDataModule(str(data_dir), augment=False, seed=seed)
        dm.setup()
        return dm.val_set[0][0]

    assert torch.equal(val_patch(1), val_patch(1))
    assert not torch.equal(val_patch(1), val_patch(2))


def test_dihedral_transforms_are_the_eight_distinct_symmetries():
    image = torch.arange(9.0).reshape(1, 3, 3)
    variants = {tuple(dihedral(image, k).flatten().tolist()) for k in range(8)}
    assert len(variants) == 8


def test_images_smaller_than_a_patch_are_skipped_in_training_with_a_warning(caplog):
    images = [("tiny", np.zeros((20, 20), np.uint8)), ("ok", np.zeros((60, 60), np.uint8))]
    lr, hr = build_patches(images, Bicubic(3), 3, 17, 14)
    assert len(lr) == 1 and hr.shape[-1] == 51
    assert "skipping tiny: 20x20 is smaller than one 51-pixel HR patch" in caplog.text


def test_a_validation_fraction_outside_zero_one_is_a_config_error():
    with pytest.raises(ConfigError, match=r"data.val_fraction=1.5: use a fraction in \(0, 1\)"):
        SRDataModule("unused", val_fraction=1.5)


def test_a_batch_larger_than_the_training_set_is_refused_instead_of_training_nothing(data_dir):
    dm = SRDataModule(str(data_dir), train_sets=["Set5"], stride=17, batch_size=100_000)
    with pytest.raises(
        ConfigError, match=r"data.batch_size=100000 is larger than the \d+ training"
    ):
        dm.setup()


def synthetic_patches(count=40, patch=5, scale=3):
    """Random LR patches and HR patches whose r x r blocks average to them (so they align)."""
    hr = torch.rand(count, 1, patch * scale, patch * scale)
    return F.avg_pool2d(hr, scale), hr


def epoch_batches(dataset, batch_size=8, seed=1, epoch=0, augment=True):
    sampler = EpochBatchSampler(dataset, batch_size, seed, augment)
    sampler.set_epoch(epoch)
    return list(sampler)


def test_an_epoch_covers_every_training_patch_once_in_full_batches():
    dataset = PatchBatches(*synthetic_patches(count=43), scale=3)
    batches = epoch_batches(dataset, batch_size=8)
    indices = torch.cat([i for i, _ in batches])
    assert len(batches) == 43 // 8 and all(len(i) == 8 for i, _ in batches)
    assert len(set(indices.tolist())) == len(indices) == 40


def test_two_ranks_share_an_epoch_without_overlap():
    dataset = PatchBatches(*synthetic_patches(count=40), scale=3)
    ranks = [EpochBatchSampler(dataset, 4, seed=1, num_replicas=2, rank=r) for r in (0, 1)]
    seen = [torch.cat([i for i, _ in sampler]).tolist() for sampler in ranks]
    assert len(ranks[0]) == len(ranks[1]) == 5
    assert sorted(seen[0] + seen[1]) == list(range(40))


def test_the_batches_are_fixed_by_seed_and_epoch_and_change_between_epochs():
    dataset = PatchBatches(*synthetic_patches(), scale=3)

    def draw(seed, epoch):
        return torch.cat([torch.cat(b) for b in epoch_batches(dataset, seed=seed, epoch=epoch)])

    assert torch.equal(draw(1, 0), draw(1, 0))
    assert not torch.equal(draw(1, 0), draw(1, 1))
    assert not torch.equal(draw(1, 0), draw(2, 0))


def test_augmentation_draws_all_eight_symmetries_and_none_without_it():
    dataset = PatchBatches(*synthetic_patches(count=400), scale=3)
    drawn = torch.cat([s for _, s in epoch_batches(dataset)])
    assert set(drawn.tolist()) == set(range(8))
    plain = torch.cat([s for _, s in epoch_batches(dataset, augment=False)])
    assert set(plain.tolist()) == {0}


@pytest.mark.parametrize("unshuffled_targets", [False, True])
def test_each_patch_pair_gets_the_same_symmetry_on_lr_and_hr(unshuffled_targets):
    lr, hr = synthetic_patches(count=16)
    dataset = PatchBatches(lr, hr, scale=3, unshuffled_targets=unshuffled_targets)
    indices, symmetries = torch.arange(16).flip(0), torch.arange(16) % 8
    batch_lr, batch_hr = dataset[(indices, symmetries)]
    if unshuffled_targets:
        assert batch_hr.shape == (16, 9, 5, 5)
        batch_hr = F.pixel_shuffle(batch_hr, 3)
    for row, (i, k) in enumerate(zip(indices.tolist(), symmetries.tolist(), strict=True)):
        assert torch.equal(batch_lr[row], dihedral(lr[i], k))
        assert torch.equal(batch_hr[row], dihedral(hr[i], k))
    torch.testing.assert_close(F.avg_pool2d(batch_hr, 3), batch_lr)


def test_a_dataloader_serves_the_sampler_batches_whole():
    lr, hr = synthetic_patches(count=40)
    dataset = PatchBatches(lr, hr, scale=3, unshuffled_targets=True)
    loader = DataLoader(dataset, sampler=EpochBatchSampler(dataset, 8, seed=3), batch_size=None)
    batches = list(loader)
    assert len(batches) == len(loader) == 5
    assert [tuple(t.shape) for t in batches[0]] == [(8, 1, 5, 5), (8, 9, 5, 5)]


def test_a_held_out_val_set_is_never_trained_on_and_the_same_whatever_the_training_sets(data_dir):
    def setup(train_sets):
        dm = SRDataModule(
            str(data_dir), train_sets=train_sets, stride=20, val_set="Set14", val_every=5
        )
        dm.setup()
        return dm

    both, other = setup(["Set5", "Set14"]), setup(["Set5"])
    held = load_dataset(data_dir, "Set14")[::5]
    lr_held, hr_held = build_patches(held, Bicubic(3), 3, 17, 20)
    for dm in (both, other):
        lr_val, hr_val = dm.val_set.tensors
        assert torch.equal(lr_val, lr_held) and torch.equal(hr_val, hr_held)
    rest = load_dataset(data_dir, "Set5") + load_dataset(data_dir, "Set14")
    names = {name for name, _ in held}
    lr_rest, _ = build_patches([i for i in rest if i[0] not in names], Bicubic(3), 3, 17, 20)
    assert len(both.train_set) == len(lr_rest)
    trained = {tuple(p.flatten().tolist()) for p in both.train_set.lr}
    assert not trained & {tuple(p.flatten().tolist()) for p in lr_held}
