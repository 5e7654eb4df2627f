"""Datasets by name: a folder holds exactly its images, `verify` finds the ones that differ, and
`import` replaces a set whole or refuses, with one-line errors."""

import dataclasses
import io
import json
import re
import shutil
import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image

from espcn_lightning.core.errors import DataError
from espcn_lightning.core.images import read_image
from espcn_lightning.data import main
from espcn_lightning.datasets.catalogue import (
    DATASETS,
    MANIFEST,
    dataset_files,
    scored_files,
    verify,
)
from espcn_lightning.datasets.importer import import_dataset
from espcn_lightning.datasets.manifest import Dataset, ImageEntry, pixel_digest

SET5 = ("baby", "bird", "butterfly", "head", "woman")


def image_of(index, size=(8, 8)):
    """A small RGB image that differs from every other index."""
    rng = np.random.default_rng(index)
    return rng.integers(0, 256, (*size, 3), dtype=np.uint8)


def synthetic_manifest(name="Set5", stems=SET5):
    """A manifest for a set of synthetic images (upstream <stem>_GT.bmp, stored <stem>.png)."""
    entries = tuple(
        ImageEntry(
            f"{stem}.png", f"Test/{name}/{stem}_GT.bmp", "0" * 64, 1, pixel_digest(image_of(i))
        )
        for i, stem in enumerate(stems)
    )
    url = "{mirror}/{repository}/{commit}/{path}"
    return {name: Dataset(name, "synthetic", "o/r", "c" * 40, url, "", "", True, entries)}


def write_set(folder, stems=SET5, suffix=".png", start=0):
    """Write the synthetic images of these stems into a folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, stem in enumerate(stems, start):
        Image.fromarray(image_of(i)).save(folder / f"{stem}{suffix}")
    return folder


def save_manifest(manifest, path):
    """Write a manifest as the JSON file that --manifest reads."""
    datasets = {}
    for name, dataset in manifest.items():
        spec = dataclasses.asdict(dataset)
        del spec["name"]
        datasets[name] = spec
    path.write_text(json.dumps({"datasets": datasets}))
    return path


def test_the_shared_data_directory_verifies_clean(data_dir, capsys):
    assert main(["--data-dir", str(data_dir), "verify", "Set5", "Set14", "T91"]) == 0
    assert "complete and the reference images" in capsys.readouterr().out


def test_every_dataset_has_its_expected_count(data_dir):
    for name, count in DATASETS.items():
        assert len(dataset_files(data_dir, name)) == count


def test_the_shipped_manifest_names_every_reference_image_with_its_upstream_hash(data_dir):
    sums, sources = data_dir / "SHA256SUMS", data_dir / "SOURCE_SHA256SUMS"
    if not sources.is_file():
        pytest.skip(f"{sources} is not there: only the reference copy carries its checksum files")
    upstream = {}
    for line in sources.read_text().splitlines():
        if not line.startswith("#"):
            sha, repository, path, local = line.split()[:4]
            upstream[local] = (sha, repository, path)
    listed = {
        f"{name}/{entry.name}": (entry.sha256, dataset.repository, entry.path)
        for name, dataset in MANIFEST.items()
        for entry in dataset.files
    }
    images = [line.split()[1] for line in sums.read_text().splitlines()]
    assert len(images) == 610
    assert {image: listed.get(image) for image in images} == {i: upstream[i] for i in images}
    assert set(listed) == set(images)


def test_missing_data_directory_says_how_to_set_it(tmp_path):
    with pytest.raises(DataError, match=r"does not exist; set ESPCN_DATA_DIR or paths.data_dir"):
        dataset_files(tmp_path / "nowhere", "Set5")


def test_a_held_out_subset_is_every_nth_image_of_its_set_in_file_name_order(tmp_path):
    write_set(tmp_path / "Set5", SET5)
    every_second = scored_files(tmp_path, "Set5/2")
    assert [path.stem for path in every_second] == ["baby", "butterfly", "woman"]
    assert scored_files(tmp_path, "Set5") == dataset_files(tmp_path, "Set5")


@pytest.mark.parametrize("spec", ["Set5/0", "Set5/two", "Set5/-1"])
def test_a_held_out_subset_without_a_positive_step_is_refused_naming_it(tmp_path, spec):
    with pytest.raises(DataError, match=rf"{spec}: write a held-out subset as NAME/N"):
        scored_files(tmp_path, spec)


def test_missing_dataset_folder_says_how_to_fetch_it(tmp_path):
    with pytest.raises(DataError, match=r"Set5 is missing; fetch it with .*data download Set5`"):
        dataset_files(tmp_path, "Set5")


def test_partial_dataset_names_the_missing_images_and_the_fix(tmp_path):
    write_set(tmp_path / "Set5", SET5[:3])
    with pytest.raises(DataError, match=r"Set5 has 3 of 5 images \(missing head, woman\); fetch"):
        dataset_files(tmp_path, "Set5", synthetic_manifest())


def test_a_folder_with_images_beyond_the_set_is_refused(tmp_path):
    folder = write_set(tmp_path / "Set5")
    write_set(folder, [f"{stem}_x{r}" for stem in SET5 for r in (2, 3, 4)], start=10)
    with pytest.raises(
        DataError, match=r"holds 15 images that are not part of Set5 .*exactly its 5"
    ):
        dataset_files(tmp_path, "Set5", synthetic_manifest())


def test_an_image_stored_twice_under_two_suffixes_is_refused(tmp_path):
    folder = write_set(tmp_path / "Set5")
    write_set(folder, ["bird"], suffix=".bmp", start=1)
    with pytest.raises(DataError, match=r"holds bird twice \(bird.bmp, bird.png\); keep one"):
        dataset_files(tmp_path, "Set5", synthetic_manifest())


def test_files_that_are_not_images_by_suffix_are_ignored(tmp_path):
    folder = write_set(tmp_path / "Set5")
    (folder / "Thumbs.db").write_bytes(b"\0")
    assert len(dataset_files(tmp_path, "Set5", synthetic_manifest())) == 5


def test_verify_reports_an_undecodable_image_by_name(tmp_path):
    folder = write_set(tmp_path / "Set5")
    (folder / "woman.png").write_text("garbage")
    assert any(
        "woman.png: not a readable image" in p
        for p in verify(tmp_path, ["Set5"], synthetic_manifest())
    )


def test_verify_names_an_image_that_is_not_the_reference_one(tmp_path):
    folder = write_set(tmp_path / "Set5")
    changed = image_of(1)
    changed[0, 0] ^= 1
    Image.fromarray(changed).save(folder / "bird.png")
    problems = verify(tmp_path, ["Set5"], synthetic_manifest())
    assert len(problems) == 1
    assert "bird.png: not the image the published tables were measured on" in problems[0]


def test_verify_accepts_the_same_pixels_in_another_lossless_encoding(tmp_path):
    folder = write_set(tmp_path / "Set5")
    Image.fromarray(image_of(2)).save(folder / "butterfly.png", compress_level=0)
    assert verify(tmp_path, ["Set5"], synthetic_manifest()) == []


def test_import_from_a_folder_and_from_a_zip(tmp_path):
    manifest = synthetic_manifest()
    source = write_set(tmp_path / "src" / "anything")
    done = import_dataset(source, "Set5", tmp_path / "data", manifest=manifest)
    assert (done.images, done.ignored, done.differing) == (5, [], [])
    assert len(dataset_files(tmp_path / "data", "Set5", manifest)) == 5
    archive = tmp_path / "set5.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted(source.iterdir()):
            z.write(path, f"Set5/{path.name}")
    shutil.rmtree(done.target)
    manifest_file = save_manifest(manifest, tmp_path / "m.json")
    args = ["--data-dir", str(tmp_path / "data"), "--manifest", str(manifest_file)]
    assert main([*args, "import", str(archive), "--name", "Set5"]) == 0
    assert verify(tmp_path / "data", ["Set5"], manifest) == []


def test_import_never_replaces_a_dataset_without_overwrite(tmp_path):
    source = write_set(tmp_path / "src")
    existing = write_set(tmp_path / "data" / "Set5", ["old"])
    with pytest.raises(DataError, match="already holds files; pass --overwrite"):
        import_dataset(source, "Set5", tmp_path / "data", manifest=synthetic_manifest())
    assert sorted(p.name for p in existing.iterdir()) == ["old.png"]


def test_import_overwrite_replaces_the_set_instead_of_merging(tmp_path):
    old = write_set(tmp_path / "data" / "Set5", [f"stale{i}" for i in range(14)], start=20)
    done = import_dataset(
        write_set(tmp_path / "src"), "Set5", tmp_path / "data", True, synthetic_manifest()
    )
    assert done.target == old
    assert sorted(p.stem for p in old.iterdir()) == sorted(SET5)
    assert not [p for p in (tmp_path / "data").iterdir() if p.name != "Set5"]


def test_a_refused_import_leaves_the_old_set_untouched(tmp_path):
    old = write_set(tmp_path / "data" / "Set5")
    before = {p.name: p.read_bytes() for p in old.iterdir()}
    source = write_set(tmp_path / "src", SET5[:4], start=30)
    with pytest.raises(
        DataError, match=r"lacks 1 of Set5's 5 images \(woman; .*nothing was changed"
    ):
        import_dataset(source, "Set5", tmp_path / "data", True, synthetic_manifest())
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["Set5"]


def test_same_named_files_in_two_folders_import_the_reference_image(tmp_path):
    source = tmp_path / "src"
    write_set(source / "HR")
    write_set(source / "LR_x2", start=40)  # same names, other pixels (as an HR + LR archive)
    done = import_dataset(source, "Set5", tmp_path / "data", manifest=synthetic_manifest())
    assert done.differing == []
    assert len(done.ignored) == 5
    for i, stem in enumerate(SET5):
        assert np.array_equal(read_image(done.target / f"{stem}.png"), image_of(i))


def test_same_named_files_none_of_which_is_the_reference_are_refused(tmp_path):
    source = tmp_path / "src"
    write_set(source / "a", start=50)
    write_set(source / "b", start=60)
    with pytest.raises(DataError, match=r"several files named baby \(a/baby.png, b/baby.png\)"):
        import_dataset(source, "Set5", tmp_path / "data", manifest=synthetic_manifest())
    assert not (tmp_path / "data" / "Set5").exists()


def test_import_of_upstream_bmp_names_stores_png_with_the_same_pixels(tmp_path):
    source = write_set(tmp_path / "src", [f"{stem}_GT" for stem in SET5], suffix=".bmp")
    done = import_dataset(source, "Set5", tmp_path / "data", manifest=synthetic_manifest())
    assert sorted(p.name for p in done.target.iterdir()) == [f"{stem}.png" for stem in SET5]
    assert verify(tmp_path / "data", ["Set5"], synthetic_manifest()) == []


def test_an_imported_image_that_differs_from_the_reference_is_reported(tmp_path, capsys):
    source = write_set(tmp_path / "src")
    write_set(source, ["head"], start=70)
    manifest_file = save_manifest(synthetic_manifest(), tmp_path / "m.json")
    args = ["--data-dir", str(tmp_path / "data"), "--manifest", str(manifest_file)]
    assert main([*args, "import", str(source), "--name", "Set5"]) == 0
    assert "warning: 1 of them are not the images" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("make_source", "message"),
    [
        (lambda tmp: tmp / "missing.zip", r"missing.zip does not exist"),
        (lambda tmp: tmp, r"holds no image files"),
    ],
)
def test_import_of_an_unusable_source_ends_in_one_line(tmp_path, capsys, make_source, message):
    source = make_source(tmp_path / "src")
    (tmp_path / "src").mkdir()
    assert (
        main(["--data-dir", str(tmp_path / "data"), "import", str(source), "--name", "Set5"]) == 1
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert re.search(message, err[0])


def test_import_of_a_zip_with_a_corrupt_member_ends_in_one_line(tmp_path, capsys):
    archive = tmp_path / "set5.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("Set5/baby.png", b"x" * 4096)
    data = bytearray(archive.read_bytes())
    data[60] ^= 0xFF  # inside the compressed member
    archive.write_bytes(bytes(data))
    assert (
        main(["--data-dir", str(tmp_path / "data"), "import", str(archive), "--name", "Set5"]) == 1
    )
    assert capsys.readouterr().err.startswith(f"error: {archive}: cannot unpack it")


def test_import_of_a_tar_with_a_member_outside_the_folder_ends_in_one_line(tmp_path, capsys):
    archive = tmp_path / "set5.tar"
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("../evil.png")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    assert (
        main(["--data-dir", str(tmp_path / "data"), "import", str(archive), "--name", "Set5"]) == 1
    )
    assert capsys.readouterr().err.startswith(f"error: {archive}: cannot unpack it")
    assert not (tmp_path / "evil.png").exists()


def test_download_list_names_every_set_with_its_source_licence_and_citation(capsys):
    assert main(["download", "--list"]) == 0
    out = capsys.readouterr().out
    for name, dataset in MANIFEST.items():
        assert f"{name}: {len(dataset.files)} images" in out
        assert dataset.citation in out and dataset.licence in out and dataset.commit in out
    assert "BSDS300_train: 200 images, 14.6 MB  (on request)" in out
