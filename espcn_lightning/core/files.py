"""Writing output files whole or not at all: a temporary sibling, renamed over the target.

A reader never sees half a file, a failure leaves the old output (if any) untouched, and a target
that is a hard link to another file is replaced, not written through, so the other name keeps its
content. The one atomic-write mechanism of the project (images, weights, records, checkpoints);
written by hand: the standard library has no atomic-write helper.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

#: Every scratch file's name holds this, so a run dir's leftovers of killed writers can be found.
SCRATCH_MARK = ".partial"


def _umask() -> int:
    """The process's file-creation mask (read by setting it, then putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(target: Path, durable: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` (same suffix, for writers that pick the format
    from it); rename it over ``target`` when the block ends, delete it if the block raises. The
    file gets the mode a plain ``open`` would give it (the umask's), and with ``durable`` its
    bytes reach the disk before the rename (checkpoints: a power cut keeps the old one)."""
    handle, name = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=f"{SCRATCH_MARK}{target.suffix}", dir=target.parent
    )
    os.close(handle)
    scratch = Path(name)
    try:
        yield scratch
        os.chmod(scratch, 0o666 & ~_umask())
        if durable:
            with open(scratch, "rb") as written:
                os.fsync(written.fileno())
        os.replace(scratch, target)
    finally:
        scratch.unlink(missing_ok=True)


def is_scratch(path: Path) -> bool:
    """Whether ``path`` is an ``atomic_output`` scratch file (a killed writer's, if it stays)."""
    return path.name.startswith(".") and SCRATCH_MARK in path.name
