"""The benchmark datasets by name: where a data directory keeps them, and checking that a set's
folder holds exactly its images (the manifest, ``datasets.json``, says which).

Fetching is ``download.py``, copying a local copy in ``importer.py``, the command line
``python -m espcn_lightning.data``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from espcn_lightning.core.colour import luma
from espcn_lightning.core.degradations import Bicubic
from espcn_lightning.core.errors import DataError, ImageReadError
from espcn_lightning.core.images import read_image
from espcn_lightning.datasets.manifest import Dataset, images_by_stem, is_reference, load_manifest

ENV_VAR = "ESPCN_DATA_DIR"
DEFAULT_DATA_DIR = Path("data")

FETCH = "python -m espcn_lightning.data download"
_FIX = f"set {ENV_VAR} or paths.data_dir=..., or fetch the sets with `{FETCH}`"


MANIFEST = load_manifest()

#: Every dataset this project knows, with its number of images.
DATASETS: dict[str, int] = {name: len(dataset.files) for name, dataset in MANIFEST.items()}

#: What ``download`` fetches when no set is named: every set Table 1 needs (training and test).
DEFAULT_SETS = tuple(name for name, dataset in MANIFEST.items() if dataset.default)


def default_data_dir() -> Path:
    """The data directory named by ESPCN_DATA_DIR, else ``data/`` in the working directory."""
    return Path(os.environ.get(ENV_VAR, DEFAULT_DATA_DIR))


def lookup(name: str, manifest: dict[str, Dataset] | None) -> Dataset:
    """A dataset of the manifest by name, with a clear error for an unknown one."""
    manifest = MANIFEST if manifest is None else manifest
    if name not in manifest:
        raise DataError(f"unknown dataset {name!r}; choose from {', '.join(manifest)}")
    return manifest[name]


def preview(names: list[str], count: int = 4) -> str:
    """A short, comma-separated sample of names."""
    more = f", ... ({len(names) - count} more)" if len(names) > count else ""
    return ", ".join(names[:count]) + more


def dataset_files(
    data_dir: str | Path, name: str, manifest: dict[str, Dataset] | None = None
) -> list[Path]:
    """The sorted image files of one dataset, after checking its folder holds exactly its images."""
    dataset = lookup(name, manifest)
    data_dir = Path(data_dir)
    if data_dir.exists() and not data_dir.is_dir():
        raise DataError(f"data directory {data_dir} is a file, not a folder; {_FIX}")
    if not data_dir.is_dir():
        raise DataError(f"data directory {data_dir} does not exist; {_FIX}")
    folder = data_dir / name
    if not folder.is_dir():
        raise DataError(f"dataset folder {folder} is missing; fetch it with `{FETCH} {name}`")
    found = images_by_stem(folder)
    expected = [entry.stem for entry in dataset.files]
    extra = sorted(set(found) - set(expected))
    if extra:
        raise DataError(
            f"dataset folder {folder} holds {len(extra)} images that are not part of {name} "
            f"({preview(extra)}); a benchmark folder must hold exactly its {len(expected)} "
            "images, or its scores mean another set: move the others out"
        )
    doubled = sorted(stem for stem, paths in found.items() if len(paths) > 1)
    if doubled:
        names = ", ".join(path.name for path in found[doubled[0]])
        raise DataError(f"dataset folder {folder} holds {doubled[0]} twice ({names}); keep one")
    missing = [stem for stem in expected if stem not in found]
    if missing:
        raise DataError(
            f"dataset folder {folder} has {len(found)} of {len(expected)} images (missing "
            f"{preview(missing)}); fetch the rest with `{FETCH} {name}`"
        )
    return sorted(paths[0] for paths in found.values())


def scored_files(data_dir: str | Path, spec: str) -> list[Path]:
    """The files a test-set name stands for: a dataset's, or with ``NAME/N`` every N-th of them in
    file-name order, which are the held-out validation images of ``data.val_set=NAME
    data.val_every=N`` (so they can be scored whole, under the protocol, like a test set)."""
    name, _, every = spec.partition("/")
    if not every:
        return dataset_files(data_dir, name)
    if not every.isdigit() or int(every) < 1:
        raise DataError(f"{spec}: write a held-out subset as NAME/N with N a positive integer")
    return dataset_files(data_dir, name)[:: int(every)]


def load_dataset(data_dir: str | Path, name: str) -> list[tuple[str, np.ndarray]]:
    """Every image of a dataset (or of a ``NAME/N`` subset, ``scored_files``) as (file stem,
    uint8 array), in file-name order."""
    return [(path.stem, read_image(path)) for path in scored_files(data_dir, name)]


def verify(
    data_dir: Path, names: list[str], manifest: dict[str, Dataset] | None = None
) -> list[str]:
    """Check each dataset is exactly its images, each decodes and is the reference image."""
    problems = []
    for name in names:
        try:
            files = dataset_files(data_dir, name, manifest)
        except DataError as error:
            problems.append(str(error))
            continue
        entries = lookup(name, manifest).entries_by_stem()
        for path in tqdm(files, desc=f"verify {name}", unit="img", leave=False):
            try:
                read_image(path)
            except ImageReadError as error:
                problems.append(str(error))
                continue
            if not is_reference(path, entries[path.stem]):
                problems.append(
                    f"{path}: not the image the published tables were measured on (its pixels "
                    f"differ); move it away and run `{FETCH} {name}` to fetch the original"
                )
    return problems


def calibration_images(
    data_dir: str | Path, scale: int, count: int = 16, name: str = "T91"
) -> list[np.ndarray]:
    """(1, 1, h, w) float32 LR Y crops of the first images of a training set (never a test set):
    the activations the int8 engine is calibrated on."""
    crops = []
    for path in dataset_files(data_dir, name)[:count]:
        y = torch.from_numpy(luma(read_image(path))).double()[: 48 * scale, : 48 * scale] / 255
        crops.append(Bicubic(scale)(y)[None, None].float().numpy())
    return crops
