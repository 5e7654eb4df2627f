"""The datamodule: aligned LR/HR patches, a seeded split, the eight dihedral augmentations."""

import numpy as np
import pytest
import torch

from espcn_lightning.datamodule import SRDataModule, build_patches, dihedral
from espcn_lightning.degradations import Bicubic, GaussianBlur
from espcn_lightning.errors import ConfigError


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
