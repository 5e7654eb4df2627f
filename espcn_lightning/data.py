"""The datasets' command line: ``python -m espcn_lightning.data download`` fetches the sets Table 1
needs from their pinned upstream repositories, ``verify`` checks a data directory image by image,
and ``import`` copies a local copy in."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from espcn_lightning.core.errors import DataError, one_line_errors, say
from espcn_lightning.datasets.catalogue import (
    DEFAULT_SETS,
    ENV_VAR,
    MANIFEST,
    dataset_files,
    default_data_dir,
    lookup,
    preview,
    verify,
)
from espcn_lightning.datasets.download import (
    DEFAULT_MIRROR,
    MIRROR_VAR,
    DownloadError,
    fetch_datasets,
)
from espcn_lightning.datasets.importer import import_dataset
from espcn_lightning.datasets.manifest import Dataset, load_manifest

IMPORT = "python -m espcn_lightning.data import SOURCE --name"


def _advice(error: DownloadError) -> str:
    """What to do about a file that could not be fetched."""
    name = error.download.label.split("/")[0]
    mirror = f"--mirror URL or {MIRROR_VAR}"
    local = f"or copy the set in with `{IMPORT} {name}`"
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
    datasets = [lookup(name, manifest) for name in names]
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
        raise DataError(f"{error}; {_advice(error)}") from error
    except OSError as error:
        raise DataError(f"{error}; choose a writable data directory with --to DIR") from error
    for name, count in fetched.counts.items():
        if count:
            print(f"{name}: fetched {count} images into {data_dir / name}")
    problems = [
        f"{path}: already there but not the image the published tables were measured on; left as "
        "it is (move it away and rerun to fetch the original)"
        for path in fetched.differing
    ]
    for name in names:
        try:
            dataset_files(data_dir, name, manifest)
        except DataError as error:
            problems.append(str(error))
    return _outcome(problems, f"{data_dir}: {', '.join(names)} complete and verified")


def _outcome(problems: list[str], success: str) -> int:
    """Print every problem (exit status 1), or the success line (0)."""
    for problem in problems:
        say(problem)
    if not problems:
        print(success)
    return 1 if problems else 0


def _run_import(args: argparse.Namespace, manifest: dict[str, Dataset], data_dir: Path) -> int:
    """The ``import`` command: copy the set in, then say what was left out or differs."""
    done = import_dataset(args.source, args.name, data_dir, args.overwrite, manifest)
    print(f"imported {done.images} images into {done.target}")
    if done.ignored:
        print(f"left out {len(done.ignored)} other images ({preview(done.ignored)})")
    if done.differing:
        print(
            f"warning: {len(done.differing)} of them are not the images the published "
            f"tables were measured on ({preview(done.differing)}); scores will differ"
        )
    return 0


def _run_verify(args: argparse.Namespace, manifest: dict[str, Dataset], data_dir: Path) -> int:
    """The ``verify`` command: each problem of the named (or present) sets, or a line of success."""
    names = args.names or [
        name for name in manifest if name in DEFAULT_SETS or (data_dir / name).is_dir()
    ]
    counts = ", ".join(f"{name} {len(manifest[name].files)}" for name in names)
    return _outcome(
        verify(data_dir, names, manifest),
        f"{data_dir}: all datasets complete and the reference images ({counts})",
    )


COMMANDS = {"download": _run_download, "import": _run_import, "verify": _run_verify}


def parser() -> argparse.ArgumentParser:
    """The command line's options."""
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
    return parser


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    """Command line: ``download`` datasets, ``verify`` a data directory, ``import`` a local copy."""
    args = parser().parse_args(argv)
    data_dir = getattr(args, "to", None) or args.data_dir or default_data_dir()
    manifest = MANIFEST if args.manifest is None else load_manifest(args.manifest)
    return COMMANDS[args.command](args, manifest, data_dir)


if __name__ == "__main__":
    sys.exit(main())
