"""Fill the file lists of espcn_lightning/datasets.json from a reference copy and upstream files.

    python tools/build_data_manifest.py REFERENCE_DIR MIRROR_DIR

REFERENCE_DIR is the copy the README's tables were measured on: the six set folders with
SHA256SUMS and SOURCE_SHA256SUMS (which maps each image to its upstream repository, path and
SHA256). MIRROR_DIR holds the upstream files as <owner>/<repo>/<commit>/<path>, e.g. laid out with
``git show COMMIT:PATH``. Every upstream file's SHA256 is checked against SOURCE_SHA256SUMS and its
decoded pixels against the reference image's; the hand-written fields of each dataset are kept.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from espcn_lightning.core.images import read_image
from espcn_lightning.datasets.manifest import MANIFEST_PATH, pixel_digest


def sums(path: Path) -> dict[str, list[str]]:
    """The lines of a checksum file keyed by their local file (the fourth or the second column)."""
    rows = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            cells = line.split()
            rows[cells[3] if len(cells) > 3 else cells[1]] = cells
    return rows


def sha256(path: Path) -> str:
    """Hex SHA256 of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def entry(local: str, source: list[str], stored: str, reference: Path, upstream: Path) -> dict:
    """One image's manifest entry, after checking the upstream file and its pixels."""
    if sha256(upstream) != source[0]:
        raise SystemExit(f"{upstream}: SHA256 differs from SOURCE_SHA256SUMS")
    pixels = pixel_digest(read_image(reference / local))
    if pixel_digest(read_image(upstream)) != pixels:
        raise SystemExit(f"{upstream}: pixels differ from {reference / local}")
    item = {"name": Path(local).name, "path": source[2], "sha256": source[0]}
    item |= {"size": upstream.stat().st_size, "pixels": pixels}
    return item | ({"stored_sha256": stored} if stored != source[0] else {})


def dump(manifest: dict) -> str:
    """The manifest as JSON with one line per image, so a diff shows which image changed."""
    text = json.dumps(manifest, indent=2, ensure_ascii=False)
    for spec in manifest["datasets"].values():
        block = json.dumps(spec["files"], indent=2, ensure_ascii=False)
        block = block.replace("\n", "\n" + " " * 6)
        lines = ",\n        ".join(json.dumps(item, ensure_ascii=False) for item in spec["files"])
        text = text.replace(block, "[\n        " + lines + "\n      ]", 1)
    return text + "\n"


def main(reference: Path, mirror: Path) -> None:
    """Rewrite the shipped manifest's file lists."""
    manifest = json.loads(MANIFEST_PATH.read_text())
    sources, stored = sums(reference / "SOURCE_SHA256SUMS"), sums(reference / "SHA256SUMS")
    for name, spec in manifest["datasets"].items():
        locals_ = sorted(local for local in sources if local.split("/")[0] == name)
        base = mirror / spec["repository"] / spec["commit"]
        spec["files"] = [
            entry(local, sources[local], stored[local][0], reference, base / sources[local][2])
            for local in locals_
        ]
        if any(sources[local][1] != spec["repository"] for local in locals_):
            raise SystemExit(f"{name}: SOURCE_SHA256SUMS names another repository")
        print(f"{name}: {len(locals_)} images", file=sys.stderr)
    MANIFEST_PATH.write_text(dump(manifest))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
