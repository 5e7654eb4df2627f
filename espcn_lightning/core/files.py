"""Writing output files whole or not at all: a temporary sibling, renamed over the target.

A reader never sees half a file, a failure leaves the old output (if any) untouched, and a target
that is a hard link to another file is replaced, not written through, so the other name keeps its
content. The one atomic-write mechanism of the project (images, weights, records, checkpoints);
written by hand: the standard library has no atomic-write helper.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from espcn_lightning.core.errors import OutputError, UpscaleError

#: Every scratch file's name holds this, so a run dir's leftovers of killed writers can be found.
SCRATCH_MARK = ".partial"
#: Characters of the target's name kept in its scratch file's, so that a name near the file
#: system's limit (255 bytes) still has room for the scratch file's own marks.
STEM_KEPT = 64

#: The causes of a failed write a user can act on, and what to do about each.
ADVICE = {
    errno.ENOSPC: ("no space left on the device", "free some space or write elsewhere"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or write elsewhere"),
    errno.EFBIG: ("file too large for this file system", "write elsewhere"),
    errno.EROFS: ("read-only file system", "write to a writable folder"),
    errno.EACCES: ("permission denied", "write to a folder you may write to"),
    errno.EPERM: ("not permitted", "write to a folder you may write to"),
    errno.ENAMETOOLONG: ("name too long for this file system", "choose a shorter name"),
    errno.ENOENT: ("its folder does not exist", "create the folder or choose another path"),
    errno.ENOTDIR: ("a file stands where a folder should be", "choose another path"),
    errno.EIO: ("input/output error on the device", "check the disk, or write elsewhere"),
}


def output_error(target: Path, error: OSError) -> OutputError | OSError:
    """The one-line OutputError for a failed write of ``target``; ``error`` itself if its cause
    is not one a user can act on (a bug keeps its traceback)."""
    if error.errno not in ADVICE:
        return error
    cause, advice = ADVICE[error.errno]
    failure = OutputError(f"{target}: cannot write it: {cause}; {advice}")
    failure.errno = error.errno
    return failure


def disk_full(folder: Path) -> bool:
    """Whether the file system holding ``folder`` has (almost) no space left: some writers (torch's
    zip writer) report a full disk without its errno."""
    try:
        return shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        return False


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
    bytes reach the disk before the rename (checkpoints: a power cut keeps the old one). A write
    that fails for a reason a user can act on (no space, read-only, ...) is an OutputError."""
    try:
        handle, name = tempfile.mkstemp(
            prefix=f".{target.stem[:STEM_KEPT]}.",
            suffix=f"{SCRATCH_MARK}{target.suffix}",
            dir=target.parent,
        )
    except OSError as error:
        raise output_error(target, error) from error
    os.close(handle)
    scratch = Path(name)
    try:
        yield scratch
        os.chmod(scratch, 0o666 & ~_umask())
        if durable:
            with open(scratch, "rb") as written:
                os.fsync(written.fileno())
        os.replace(scratch, target)
    except OSError as error:
        raise output_error(target, error) from error
    except RuntimeError as error:
        if disk_full(target.parent):
            raise output_error(target, OSError(errno.ENOSPC, "no space")) from error
        raise
    finally:
        with contextlib.suppress(OSError):
            scratch.unlink(missing_ok=True)


def is_scratch(path: Path) -> bool:
    """Whether ``path`` is an ``atomic_output`` scratch file (a killed writer's, if it stays)."""
    return path.name.startswith(".") and SCRATCH_MARK in path.name


def prepare_output(
    source: Path, target: Path, overwrite: bool, suffixes: tuple[str, ...], kind: str
) -> None:
    """Refuse, before any work, an output that cannot be written or would replace the input or an
    existing file without --overwrite; then create its folder. ``kind`` names what is written
    (``a video``, ``an image``), whose file ``suffixes`` the output must have."""
    if target.is_dir():
        raise UpscaleError(
            f"{target} is a folder; give a file path, such as {target / source.name}"
        )
    if target.suffix.lower() not in suffixes:
        raise UpscaleError(
            f"{target}: {source.name} is {kind}, written as {', '.join(suffixes)}; "
            "choose an output ending in one of those"
        )
    if target.exists() and source.exists() and os.path.samefile(source, target):
        raise UpscaleError(
            f"{target}: output is the input (the same file, perhaps through a link); "
            "choose another output path"
        )
    if target.exists() and not overwrite:
        raise UpscaleError(f"{target} already exists; pass --overwrite to replace it")
    make_folder(target.parent)


def make_folder(folder: Path) -> None:
    """Create an output folder (and its parents), or say why it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise UpscaleError(
            f"cannot create folder {folder}: a file is in the way ({error})"
        ) from error
    except OSError as error:
        raise UpscaleError(f"cannot create folder {folder} ({error.strerror})") from error
