"""Datasets by name: verifying a data directory, importing into it, and clear one-line errors."""

import shutil
import zipfile

import numpy as np
import pytest
from PIL import Image

from espcn_lightning.data import DATASETS, DataError, dataset_files, import_dataset, main


def make_dataset(root, name, count, size=(8, 8)):
    folder = root / name
    folder.mkdir(parents=True)
    for i in range(count):
        Image.fromarray(np.full((*size, 3), i, np.uint8)).save(folder / f"img{i:03d}.png")
    return folder


def test_the_shared_data_directory_verifies_clean(data_dir, capsys):
    assert main(["--data-dir", str(data_dir), "verify", "Set5", "Set14", "T91"]) == 0
    assert "complete and readable" in capsys.readouterr().out


def test_every_dataset_has_its_expected_count(data_dir):
    for name, count in DATASETS.items():
        assert len(dataset_files(data_dir, name)) == count


def test_missing_data_directory_says_how_to_set_it(tmp_path):
    with pytest.raises(DataError, match=r"does not exist; set ESPCN_DATA_DIR or paths.data_dir"):
        dataset_files(tmp_path / "nowhere", "Set5")


def test_missing_dataset_folder_is_named(tmp_path):
    with pytest.raises(DataError, match=r"Set5 is missing; .*--name Set5"):
        dataset_files(tmp_path, "Set5")


def test_partial_dataset_names_the_count_and_the_fix(tmp_path):
    make_dataset(tmp_path, "Set5", 3)
    with pytest.raises(DataError, match=r"Set5 has 3 of 5 images; re-import it"):
        dataset_files(tmp_path, "Set5")


def test_files_that_are_not_images_by_suffix_are_ignored(tmp_path):
    folder = make_dataset(tmp_path, "Set5", 5)
    (folder / "Thumbs.db").write_bytes(b"\0")
    assert len(dataset_files(tmp_path, "Set5")) == 5


def test_verify_reports_an_undecodable_image_by_name(tmp_path, capsys):
    folder = make_dataset(tmp_path, "Set5", 5)
    (folder / "img004.png").write_text("garbage")
    assert main(["--data-dir", str(tmp_path), "verify", "Set5"]) == 1
    assert "img004.png: not a readable image" in capsys.readouterr().err


def test_import_from_a_folder_and_from_a_zip(tmp_path):
    source = make_dataset(tmp_path / "src", "anything", 5)
    target = import_dataset(source, "Set5", tmp_path / "data")
    assert len(dataset_files(tmp_path / "data", "Set5")) == 5
    archive = tmp_path / "set14.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(source.iterdir()):
            z.write(path, f"Set14/{path.name}")
    shutil.rmtree(target)
    assert (
        main(["--data-dir", str(tmp_path / "data"), "import", str(archive), "--name", "Set5"]) == 0
    )


def test_import_never_replaces_a_dataset_without_overwrite(tmp_path):
    source = make_dataset(tmp_path / "src", "x", 5)
    existing = make_dataset(tmp_path / "data", "Set5", 1)
    with pytest.raises(DataError, match="already holds files; pass --overwrite"):
        import_dataset(source, "Set5", tmp_path / "data")
    assert sorted(p.name for p in existing.iterdir()) == ["img000.png"]
