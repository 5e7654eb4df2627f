"""The benchmark datasets by name: where they live, checking them, importing them.

Run ``python -m espcn_lightning.data verify`` to check a data directory and
``python -m espcn_lightning.data import SOURCE --name Set5`` to copy a dataset into it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from espcn_lightning.errors import DataError, ImageReadError, UserError
from espcn_lightning.images import is_image_file, read_image

#: Every dataset this project knows, with its number of images.
DATASETS: dict[str, int] = {
    "T91": 91,
    "Set5": 5,
    "Set14": 14,
    "BSD100": 100,
    "BSD200": 200,
    "BSDS300_train": 200,
}

ENV_VAR = "ESPCN_DATA_DIR"
DEFAULT_DATA_DIR = Path("data")
_FIX = f"set {ENV_VAR} or paths.data_dir=..., or run `python -m espcn_lightning.data import`"


def default_data_dir() -> Path:
    """The data directory named by ESPCN_DATA_DIR, else ``data/`` in the working directory."""
    return Path(os.environ.get(ENV_VAR, DEFAULT_DATA_DIR))


def dataset_files(data_dir: str | Path, name: str) -> list[Path]:
    """The sorted image files of one dataset, after checking the folder is there and complete."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"data directory {data_dir} does not exist; {_FIX}")
    folder = data_dir / name
    if not folder.is_dir():
        raise DataError(f"dataset folder {folder} is missing; {_FIX} --name {name}")
    files = sorted(path for path in folder.iterdir() if path.is_file() and is_image_file(path))
    expected = DATASETS[name]
    if len(files) < expected:
        raise DataError(
            f"dataset folder {folder} has {len(files)} of {expected} images; "
            f"re-import it with `python -m espcn_lightning.data import SOURCE --name {name}`"
        )
    return files


def load_dataset(data_dir: str | Path, name: str) -> list[tuple[str, np.ndarray]]:
    """Every image of a dataset as (file stem, uint8 array), in file-name order."""
    return [(path.stem, read_image(path)) for path in dataset_files(data_dir, name)]


def verify(data_dir: Path, names: list[str]) -> list[str]:
    """Check that each dataset is complete and every image decodes; return the problems found."""
    problems = []
    for name in names:
        try:
            files = dataset_files(data_dir, name)
        except DataError as error:
            problems.append(str(error))
            continue
        for path in tqdm(files, desc=f"verify {name}", unit="img", leave=False):
            try:
                read_image(path)
            except ImageReadError as error:
                problems.append(str(error))
    return problems


def _extract(source: Path, into: Path) -> Path:
    """Unpack a zip or tar archive into a folder and return it."""
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            archive.extractall(into)
    elif tarfile.is_tarfile(source):
        with tarfile.open(source) as archive:
            archive.extractall(into, filter="data")
    else:
        raise DataError(f"{source} is neither a folder nor a zip/tar archive; give one of those")
    return into


def import_dataset(source: Path, name: str, data_dir: Path, overwrite: bool = False) -> Path:
    """Copy the images of a folder or archive into ``data_dir/name``; never replace silently."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}")
    target = data_dir / name
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise DataError(f"{target} already holds files; pass --overwrite to replace them")
    with tempfile.TemporaryDirectory() as scratch:
        folder = source if source.is_dir() else _extract(source, Path(scratch))
        images = sorted(
            path for path in folder.rglob("*") if path.is_file() and is_image_file(path)
        )
        if not images:
            raise DataError(
                f"{source} holds no image files ({', '.join(('.png', '.jpg', '.bmp'))}, ...)"
            )
        target.mkdir(parents=True, exist_ok=True)
        for path in tqdm(images, desc=f"import {name}", unit="img"):
            shutil.copy2(path, target / path.name)
    return target


def main(argv: list[str] | None = None) -> int:
    """Command line: ``verify`` a data directory or ``import`` a dataset into it."""
    parser = argparse.ArgumentParser(prog="python -m espcn_lightning.data", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=None, help=f"default: ${ENV_VAR} or data/")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="check counts and that every image decodes")
    check.add_argument("names", nargs="*", default=list(DATASETS), help="datasets (default: all)")
    bring = commands.add_parser("import", help="copy a dataset from a folder or zip/tar archive")
    bring.add_argument("source", type=Path)
    bring.add_argument("--name", required=True, choices=list(DATASETS))
    bring.add_argument("--overwrite", action="store_true", help="replace an existing dataset")
    args = parser.parse_args(argv)
    data_dir = args.data_dir or default_data_dir()
    try:
        if args.command == "import":
            target = import_dataset(args.source, args.name, data_dir, args.overwrite)
            print(f"imported {len(dataset_files(data_dir, args.name))} images into {target}")
            return 0
        problems = verify(data_dir, args.names)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not problems:
        counts = ", ".join(f"{name} {DATASETS[name]}" for name in args.names)
        print(f"{data_dir}: all datasets complete and readable ({counts})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
