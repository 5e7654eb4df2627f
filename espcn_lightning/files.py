"""Writing output files whole or not at all: a temporary sibling, renamed over the target.

A reader never sees half a file, a failure leaves the old output (if any) untouched, and a target
that is a hard link to another file is replaced, not written through, so the other name keeps its
content. Written by hand: the standard library has no atomic-write helper.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_output(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` (same suffix, for writers that pick the format
    from it); rename it over ``target`` when the block ends, delete it if the block raises."""
    handle, name = tempfile.mkstemp(
        prefix=f".{target.stem}.", suffix=f".partial{target.suffix}", dir=target.parent
    )
    os.close(handle)
    scratch = Path(name)
    try:
        yield scratch
        os.replace(scratch, target)
    finally:
        scratch.unlink(missing_ok=True)
