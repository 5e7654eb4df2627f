"""Copying a dataset in from a local folder or a zip/tar archive: each image picked by name (and
by its pixels where names repeat), checked, and the set swapped in whole or not at all."""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from espcn_lightning.core.errors import DataError, ImageReadError
from espcn_lightning.core.images import is_image_file, read_image
from espcn_lightning.datasets.catalogue import lookup, preview
from espcn_lightning.datasets.manifest import Dataset, ImageEntry, is_reference, store_image


@dataclass
class Imported:
    """What an import did: the set's folder, the images taken, those left out, those that differ."""

    target: Path
    images: int
    ignored: list[str]
    differing: list[str]


def _extract(source: Path, into: Path) -> Path:
    """Unpack a zip or tar archive into a folder and return it."""
    try:
        if zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as archive:
                archive.extractall(into)
        elif tarfile.is_tarfile(source):
            with tarfile.open(source) as archive:
                archive.extractall(into, filter="data")
        else:
            raise DataError(
                f"{source} is neither a folder nor a zip/tar archive; give one of those"
            )
    except (zipfile.BadZipFile, zlib.error, tarfile.TarError, EOFError) as error:
        raise DataError(
            f"{source}: cannot unpack it ({error}); fetch the archive again, or unpack it "
            "yourself and import the folder"
        ) from error
    return into


def _choose(
    folder: Path, dataset: Dataset, source: Path
) -> tuple[list[tuple[ImageEntry, Path]], list[str]]:
    """Pick each image of the set from a folder tree by name (``baby`` or upstream ``baby_GT``).

    Several files of one name (an archive with HR and LR folders) are told apart by their pixels;
    if that cannot pick exactly one, or an image is missing, the import is refused.
    """
    images = sorted(path for path in folder.rglob("*") if path.is_file() and is_image_file(path))
    if not images:
        raise DataError(f"{source} holds no image files (.png, .jpg, .bmp, ...)")
    by_stem: dict[str, list[Path]] = {}
    for path in images:
        by_stem.setdefault(path.stem, []).append(path)
    chosen, missing, used = [], [], set()
    for entry in dataset.files:
        candidates = by_stem.get(entry.stem, [])
        if entry.upstream_stem != entry.stem:
            candidates = candidates + by_stem.get(entry.upstream_stem, [])
        if not candidates:
            missing.append(entry.stem)
            continue
        if len(candidates) > 1:
            found = [str(path.relative_to(folder)) for path in candidates]
            candidates = [path for path in candidates if is_reference(path, entry)]
            if not candidates:
                raise DataError(
                    f"{source} holds several files named {entry.stem} ({preview(found)}) and "
                    f"none is the reference image; import from the folder that holds only "
                    f"{dataset.name}'s HR images"
                )
        chosen.append((entry, candidates[0]))
        used.add(candidates[0])
    if missing:
        raise DataError(
            f"{source} lacks {len(missing)} of {dataset.name}'s {len(dataset.files)} images "
            f"({preview(missing)}; files are found by name, e.g. {dataset.files[0].name}); "
            "nothing was changed"
        )
    ignored = [str(path.relative_to(folder)) for path in images if path not in used]
    return chosen, ignored


def import_dataset(
    source: Path,
    name: str,
    data_dir: Path,
    overwrite: bool = False,
    manifest: dict[str, Dataset] | None = None,
) -> Imported:
    """Copy a set's images from a folder or archive into ``data_dir/name``, whole or not at all.

    The new set is built beside the old one and swapped in by renaming, so a failure leaves the old
    set as it was; the old set goes only with ``overwrite``.
    """
    dataset = lookup(name, manifest)
    source, data_dir = Path(source), Path(data_dir)
    if not source.exists():
        raise DataError(f"{source} does not exist; give a folder or a zip/tar archive of {name}")
    target = data_dir / name
    if target.exists() and not target.is_dir():
        raise DataError(f"{target} is a file, not a dataset folder; move it away first")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise DataError(f"{target} already holds files; pass --overwrite to replace the set")
    data_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".import-{name}-", dir=data_dir))
    try:
        folder = source if source.is_dir() else _extract(source, scratch / "unpacked")
        chosen, ignored = _choose(folder, dataset, source)
        staged = scratch / name
        staged.mkdir()
        for entry, path in tqdm(chosen, desc=f"import {name}", unit="img", leave=False):
            try:
                read_image(path)
            except ImageReadError as error:
                where = path if source.is_dir() else f"{source} (its {path.relative_to(folder)})"
                raise DataError(
                    f"{where}: not a readable image; replace it and import again; nothing was "
                    "changed"
                ) from error
            store_image(path, entry, staged, scratch)
        differing = [
            path.name
            for path in sorted(staged.iterdir())
            if not is_reference(path, dataset.entries_by_stem()[path.stem])
        ]
        if target.exists():
            os.replace(target, scratch / "replaced")
        os.replace(staged, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return Imported(target, len(chosen), ignored, differing)
