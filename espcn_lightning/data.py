"""The benchmark datasets by name: where they live, checking them, fetching and importing them.

``python -m espcn_lightning.data download`` fetches the sets Table 1 needs from their pinned
upstream repositories, ``verify`` checks a data directory image by image, and ``import`` copies a
local copy in.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tarfile
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from espcn_lightning.download import DEFAULT_MIRROR, MIRROR_VAR, DownloadError, fetch_datasets
from espcn_lightning.errors import DataError, ImageReadError, UserError
from espcn_lightning.images import is_image_file, read_image
from espcn_lightning.manifest import (
    Dataset,
    ImageEntry,
    images_by_stem,
    is_reference,
    load_manifest,
    store_image,
)

ENV_VAR = "ESPCN_DATA_DIR"
DEFAULT_DATA_DIR = Path("data")

_FETCH = "python -m espcn_lightning.data download"
_IMPORT = "python -m espcn_lightning.data import SOURCE --name"
_FIX = f"set {ENV_VAR} or paths.data_dir=..., or fetch the sets with `{_FETCH}`"


MANIFEST = load_manifest()

#: Every dataset this project knows, with its number of images.
DATASETS: dict[str, int] = {name: len(dataset.files) for name, dataset in MANIFEST.items()}

#: What ``download`` fetches when no set is named: every set Table 1 needs (training and test).
DEFAULT_SETS = tuple(name for name, dataset in MANIFEST.items() if dataset.default)


def default_data_dir() -> Path:
    """The data directory named by ESPCN_DATA_DIR, else ``data/`` in the working directory."""
    return Path(os.environ.get(ENV_VAR, DEFAULT_DATA_DIR))


def _lookup(name: str, manifest: dict[str, Dataset] | None) -> Dataset:
    """A dataset of the manifest by name, with a clear error for an unknown one."""
    manifest = MANIFEST if manifest is None else manifest
    if name not in manifest:
        raise DataError(f"unknown dataset {name!r}; choose from {', '.join(manifest)}")
    return manifest[name]


def _preview(names: list[str], count: int = 4) -> str:
    """A short, comma-separated sample of names."""
    more = f", ... ({len(names) - count} more)" if len(names) > count else ""
    return ", ".join(names[:count]) + more


def dataset_files(
    data_dir: str | Path, name: str, manifest: dict[str, Dataset] | None = None
) -> list[Path]:
    """The sorted image files of one dataset, after checking its folder holds exactly its images."""
    dataset = _lookup(name, manifest)
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"data directory {data_dir} does not exist; {_FIX}")
    folder = data_dir / name
    if not folder.is_dir():
        raise DataError(f"dataset folder {folder} is missing; fetch it with `{_FETCH} {name}`")
    found = images_by_stem(folder)
    expected = [entry.stem for entry in dataset.files]
    extra = sorted(set(found) - set(expected))
    if extra:
        raise DataError(
            f"dataset folder {folder} holds {len(extra)} images that are not part of {name} "
            f"({_preview(extra)}); a benchmark folder must hold exactly its {len(expected)} "
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
            f"{_preview(missing)}); fetch the rest with `{_FETCH} {name}`"
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
        entries = _lookup(name, manifest).entries_by_stem()
        for path in tqdm(files, desc=f"verify {name}", unit="img", leave=False):
            try:
                read_image(path)
            except ImageReadError as error:
                problems.append(str(error))
                continue
            if not is_reference(path, entries[path.stem]):
                problems.append(
                    f"{path}: not the image the README's tables were measured on (its pixels "
                    f"differ); move it away and run `{_FETCH} {name}` to fetch the original"
                )
    return problems


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
                    f"{source} holds several files named {entry.stem} ({_preview(found)}) and "
                    f"none is the reference image; import from the folder that holds only "
                    f"{dataset.name}'s HR images"
                )
        chosen.append((entry, candidates[0]))
        used.add(candidates[0])
    if missing:
        raise DataError(
            f"{source} lacks {len(missing)} of {dataset.name}'s {len(dataset.files)} images "
            f"({_preview(missing)}; files are found by name, e.g. {dataset.files[0].name}); "
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
    dataset = _lookup(name, manifest)
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
                raise DataError(f"{error}; nothing was changed") from error
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


def _advice(error: DownloadError) -> str:
    """What to do about a file that could not be fetched."""
    name = error.download.label.split("/")[0]
    mirror = f"--mirror URL or {MIRROR_VAR}"
    local = f"or copy the set in with `{_IMPORT} {name}`"
    if error.kind == "http":
        return (
            f"check the mirror ({mirror}; files lie at <mirror>/<owner>/<repo>/<commit>/<path>), "
            + local
        )
    if error.kind == "checksum":
        return (
            f"the server holds other bytes than the pinned file: try a mirror ({mirror}), {local}"
        )
    network = "check the network or proxy (HTTPS_PROXY) and rerun to resume"
    return f"{network}, or use a mirror ({mirror}), {local}"


def list_datasets(manifest: dict[str, Dataset]) -> str:
    """Every dataset with its image count, download size, source, licence and citation."""
    lines = []
    for dataset in manifest.values():
        default = "  (fetched by default)" if dataset.default else "  (on request)"
        lines += [
            f"{dataset.name}: {len(dataset.files)} images, {dataset.size / 1e6:.1f} MB{default}",
            f"  {dataset.description}",
            f"  source: {dataset.repository} @ {dataset.commit}",
            f"  licence: {dataset.licence}",
            f"  cite: {dataset.citation}",
        ]
    return "\n".join(lines)


def _run_download(args: argparse.Namespace, manifest: dict[str, Dataset], data_dir: Path) -> int:
    """The ``download`` command: fetch, then say what was fetched and what is left to fix."""
    if args.list:
        print(list_datasets(manifest))
        return 0
    names = list(manifest) if args.all else args.names or [n for n in DEFAULT_SETS if n in manifest]
    datasets = [_lookup(name, manifest) for name in names]
    try:
        fetched = fetch_datasets(
            datasets,
            data_dir,
            args.mirror,
            workers=args.workers,
            timeout=args.timeout,
            retries=args.retries,
        )
    except DownloadError as error:
        print(f"error: {error}; {_advice(error)}", file=sys.stderr)
        return 1
    except OSError as error:
        print(f"error: {error}; choose a writable data directory with --to DIR", file=sys.stderr)
        return 1
    for name, count in fetched.counts.items():
        if count:
            print(f"{name}: fetched {count} images into {data_dir / name}")
    problems = [
        f"{path}: already there but not the image the README's tables were measured on; left as "
        "it is (move it away and rerun to fetch the original)"
        for path in fetched.differing
    ]
    for name in names:
        try:
            dataset_files(data_dir, name, manifest)
        except DataError as error:
            problems.append(str(error))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not problems:
        print(f"{data_dir}: {', '.join(names)} complete and verified")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    """Command line: ``download`` datasets, ``verify`` a data directory, ``import`` a local copy."""
    parser = argparse.ArgumentParser(prog="python -m espcn_lightning.data", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=None, help=f"default: ${ENV_VAR} or data/")
    parser.add_argument("--manifest", type=Path, default=None, help="another dataset manifest")
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("download", help="fetch datasets from their pinned sources")
    fetch.add_argument("names", nargs="*", help=f"datasets (default: {' '.join(DEFAULT_SETS)})")
    fetch.add_argument("--all", action="store_true", help="every dataset, BSDS300_train too")
    fetch.add_argument("--list", action="store_true", help="list datasets, sources and citations")
    fetch.add_argument("--to", type=Path, default=None, help="the data directory to fill")
    fetch.add_argument(
        "--mirror",
        default=None,
        help=f"base URL laid out as <owner>/<repo>/<commit>/<path> (default: ${MIRROR_VAR}, "
        f"else {DEFAULT_MIRROR})",
    )
    fetch.add_argument("--workers", type=int, default=4, help="parallel downloads (default 4)")
    fetch.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a server")
    fetch.add_argument("--retries", type=int, default=3, help="retries per file, waiting longer")
    check = commands.add_parser("verify", help="check each image is there and the reference one")
    check.add_argument(
        "names", nargs="*", help="datasets (default: the default sets and any other present)"
    )
    bring = commands.add_parser("import", help="copy a dataset from a folder or zip/tar archive")
    bring.add_argument("source", type=Path)
    bring.add_argument("--name", required=True)
    bring.add_argument("--overwrite", action="store_true", help="replace an existing dataset")
    args = parser.parse_args(argv)
    data_dir = getattr(args, "to", None) or args.data_dir or default_data_dir()
    try:
        manifest = MANIFEST if args.manifest is None else load_manifest(args.manifest)
        if args.command == "download":
            return _run_download(args, manifest, data_dir)
        if args.command == "import":
            done = import_dataset(args.source, args.name, data_dir, args.overwrite, manifest)
            print(f"imported {done.images} images into {done.target}")
            if done.ignored:
                print(f"left out {len(done.ignored)} other images ({_preview(done.ignored)})")
            if done.differing:
                print(
                    f"warning: {len(done.differing)} of them are not the images the README's "
                    f"tables were measured on ({_preview(done.differing)}); scores will differ"
                )
            return 0
        names = args.names or [
            name for name in manifest if name in DEFAULT_SETS or (data_dir / name).is_dir()
        ]
        problems = verify(data_dir, names, manifest)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not problems:
        counts = ", ".join(f"{name} {len(manifest[name].files)}" for name in names)
        print(f"{data_dir}: all datasets complete and the reference images ({counts})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
