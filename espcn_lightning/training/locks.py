"""An exclusive lock on a run or sweep dir, naming its holder, told stale when the holder died.

Written with fcntl rather than the filelock package because the refusal must name the holder
(pid, host, start time, recorded in the file) and a lock file left by a killed process must be
told from a live one: the kernel drops a flock when its holder dies, kill -9 included, so a
leftover file that can be locked is stale by construction.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import socket
from pathlib import Path

from espcn_lightning.core.errors import RunDirError

#: The lock file in a locked dir.
LOCK = ".lock"


class DirLock:
    """An exclusive lock on a run or sweep dir: ``fcntl.flock`` on ``DIR/.lock``.

    Written with fcntl rather than the filelock package because the refusal must name the holder
    (pid, host, start time, recorded in the file) and a lock file left by a killed process must be
    told from a live one: the kernel drops a flock when its holder dies, kill -9 included, so a
    leftover file that can be locked is stale by construction.
    """

    def __init__(self, path: Path, fd: int, stale: str | None) -> None:
        self.path, self.fd, self.stale = path, fd, stale

    @classmethod
    def acquire(cls, directory: Path, option: str) -> DirLock:
        """Lock ``directory`` or raise RunDirError naming the live holder; ``option`` is the
        setting a user changes to go elsewhere (hydra.run.dir, hydra.sweep.dir)."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / LOCK
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder_text(fd) or "another process"
                os.close(fd)
                raise RunDirError(in_use(directory, holder, option)) from None
            if _is_current(fd, path):
                break
            os.close(fd)  # its holder removed the file between our open and our lock: retry
        stale = _holder_text(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder_record()).encode(), 0)
        return cls(path, fd, stale)

    @staticmethod
    def holder(directory: Path) -> str | None:
        """Who holds ``directory``'s lock now, or None (none, or a stale one); changes nothing."""
        try:
            fd = os.open(directory / LOCK, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder_text(fd) or "another process"
        finally:
            os.close(fd)
        return None

    def release(self) -> None:
        """Remove the lock file, then drop the lock (in that order, so no one locks a removed file
        unnoticed: acquire re-checks that the file it locked is still the one at the path)."""
        if self.fd < 0:
            return
        try:
            if _is_current(self.fd, self.path):
                self.path.unlink()
        finally:
            os.close(self.fd)
            self.fd = -1


def holder_record() -> dict:
    """This process as a lock holder: pid, host and start time."""
    now = datetime.datetime.now().isoformat(timespec="seconds")
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": now}


def _holder_text(fd: int) -> str | None:
    """The holder a lock file names, in words (None for an empty file)."""
    text = os.pread(fd, 4096, 0).decode(errors="replace")
    if not text:
        return None
    try:
        record = json.loads(text)
        return f"process {record['pid']} on {record['host']} (since {record['since']})"
    except (ValueError, KeyError, TypeError):
        return "another process"


def _is_current(fd: int, path: Path) -> bool:
    """Whether the open file ``fd`` is still the file at ``path``."""
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def in_use(directory: Path, holder: str, option: str) -> str:
    """The one-line refusal for a dir another process is writing."""
    return f"{directory} is in use by {holder}; wait for it to finish, or choose another {option}"
