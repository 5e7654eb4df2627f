"""Outputs written whole or not at all, with the mode a plain write would give them."""

import os
import stat

import pytest

from espcn_lightning.core.files import atomic_output, is_scratch


def test_a_finished_output_follows_the_umask_not_the_scratch_files_private_mode(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_output(tmp_path / "out.txt") as scratch:
            scratch.write_text("done")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o644


def test_a_failed_write_leaves_the_old_output_and_no_scratch_file(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_output(target) as scratch:
        scratch.write_text("half")
        assert is_scratch(scratch)
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
