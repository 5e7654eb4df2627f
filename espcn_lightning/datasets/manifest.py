"""The dataset manifest: each benchmark set's pinned source, licence, citation and images.

``datasets.json`` ships with the package. Per image it gives the upstream path and SHA256, the name
the image has here, and a digest of its decoded pixels, which identifies the image the published
tables were measured on whatever lossless encoding holds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import numpy as np
from PIL import Image
from pooch import file_hash

from espcn_lightning.core.errors import DataError, ImageReadError
from espcn_lightning.core.images import is_image_file, read_image

MANIFEST_PATH = Path(__file__).with_name("datasets.json")


class ManifestError(DataError):
    """A manifest file cannot be read; the message names it."""


@dataclass(frozen=True)
class ImageEntry:
    """One image of a dataset: its name here, where it lies upstream, and its hashes."""

    name: str
    path: str
    sha256: str
    size: int
    pixels: str
    stored_sha256: str = ""

    @property
    def stem(self) -> str:
        """The image's name without suffix, which is how the protocol names it."""
        return Path(self.name).stem

    @property
    def upstream_stem(self) -> str:
        """The upstream file's name without suffix (``baby_GT`` for Set5's ``baby``)."""
        return PurePosixPath(self.path).stem

    @property
    def hashes(self) -> set[str]:
        """The SHA256 of the upstream file and of the converted copy the tables used."""
        return {self.sha256, self.stored_sha256} - {""}


@dataclass(frozen=True)
class Dataset:
    """One dataset: its pinned source, licence, citation and images."""

    name: str
    description: str
    repository: str
    commit: str
    url: str
    licence: str
    citation: str
    default: bool
    files: tuple[ImageEntry, ...] = field(repr=False)

    def url_of(self, entry: ImageEntry, mirror: str) -> str:
        """The URL of an upstream file under a mirror (a base URL laid out as GitHub's raw host)."""
        return self.url.format(
            mirror=mirror.rstrip("/"),
            repository=self.repository,
            commit=self.commit,
            path=quote(entry.path),
        )

    @property
    def size(self) -> int:
        """Bytes to download for the whole set."""
        return sum(entry.size for entry in self.files)

    def entries_by_stem(self) -> dict[str, ImageEntry]:
        """The images keyed by their stem."""
        return {entry.stem: entry for entry in self.files}


def load_manifest(path: str | Path = MANIFEST_PATH) -> dict[str, Dataset]:
    """Read a dataset manifest (the shipped ``datasets.json`` unless another is named)."""
    try:
        raw = json.loads(Path(path).read_text())
        return {
            name: Dataset(
                name=name,
                **{key: value for key, value in spec.items() if key != "files"},
                files=tuple(ImageEntry(**entry) for entry in spec["files"]),
            )
            for name, spec in raw["datasets"].items()
        }
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ManifestError(f"dataset manifest {path} is unreadable ({error})") from error


def pixel_digest(image: np.ndarray) -> str:
    """SHA256 of decoded pixels and their shape: the same for any lossless encoding of an image."""
    header = "x".join(str(size) for size in image.shape) + "\n"
    data = np.ascontiguousarray(image, np.uint8).tobytes()
    return hashlib.sha256(header.encode() + data).hexdigest()


def is_reference(path: Path, entry: ImageEntry) -> bool:
    """Whether a file is the image the published tables were measured on (same bytes or pixels)."""
    if file_hash(str(path), alg="sha256") in entry.hashes:
        return True
    try:
        return pixel_digest(read_image(path)) == entry.pixels
    except ImageReadError:
        return False


def images_by_stem(folder: Path) -> dict[str, list[Path]]:
    """The image files of a folder grouped by stem (a stem with two files is a conflict)."""
    found: dict[str, list[Path]] = {}
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.is_file() and is_image_file(path):
                found.setdefault(path.stem, []).append(path)
    return found


def store_image(
    source: Path, entry: ImageEntry, folder: Path, work: Path, move: bool = False
) -> Path:
    """Put an image into a set's folder under its name here; never as a partial file.

    A BMP becomes PNG losslessly (checked pixel for pixel); any other file keeps its bytes and
    suffix. The file is written into ``work`` (on the same file system) and renamed into the
    folder. ``move`` takes the source away (a verified download) instead of copying it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    to_png = source.suffix.lower() == ".bmp" and Path(entry.name).suffix.lower() == ".png"
    target = folder / (entry.name if to_png else entry.stem + source.suffix.lower())
    if move and not to_png:
        os.replace(source, target)
        return target
    temporary = work / f"{folder.name}-{target.name}.tmp"
    if to_png:
        with Image.open(source) as image:
            image.save(temporary, format="PNG", optimize=True)
        if not np.array_equal(read_image(temporary), read_image(source)):
            temporary.unlink()
            raise RuntimeError(f"{source}: converting it to PNG changed its pixels")
    else:
        shutil.copy2(source, temporary)
    os.replace(temporary, target)
    if move:
        source.unlink()
    return target
