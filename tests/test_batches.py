"""Whole-batch training data: each epoch covers the training set once, under all 8 symmetries,
deterministically per seed, with LR and HR (or its pixel-unshuffled form) kept aligned."""

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from espcn_lightning.datamodule import EpochBatchSampler, PatchBatches, SRDataModule, dihedral


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


def test_unshuffled_targets_without_whole_batches_are_refused_by_name():
    with pytest.raises(ValueError, match="data.unshuffled_targets=true needs data.whole_batches"):
        SRDataModule("data", whole_batches=False, unshuffled_targets=True)
