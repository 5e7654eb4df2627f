"""Fetching the benchmark sets from their pinned upstream files, each verified before it is kept.

Hashed, resumable, parallel downloads: pooch checks each file's SHA256, moves it into place only
once verified, and retries with a growing wait; the downloader plugged into it here resumes a
partial file with an HTTP Range request and gives up on a server that stops answering (pooch's own
HTTP downloader always starts again from byte 0, which a kill or a dropped connection on a slow
line makes costly). A verified file is then stored in its set's folder under its name here.
"""

from __future__ import annotations

import os
import shutil
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import pooch
import requests
from tqdm import tqdm

from espcn_lightning.core.errors import DataError
from espcn_lightning.datasets.manifest import (
    Dataset,
    ImageEntry,
    images_by_stem,
    is_reference,
    store_image,
)

MIRROR_VAR = "ESPCN_DATA_MIRROR"
#: GitHub's raw-file host: every file lies at <mirror>/<owner>/<repo>/<commit>/<path>.
DEFAULT_MIRROR = "https://raw.githubusercontent.com"
#: Where downloads wait, inside the data directory, until verified and stored in a set's folder.
STAGING = ".download"
#: Suffix of a file still being transferred, next to where the verified file will lie.
PARTIAL_SUFFIX = ".part"


@dataclass(frozen=True)
class Download:
    """One file to fetch: from where, its SHA256, its size, where it goes and what to call it."""

    url: str
    sha256: str
    size: int
    key: str
    label: str


class DownloadError(DataError):
    """A file could not be fetched; ``kind`` is "http", "network" or "checksum". ``others`` are
    the further files of the same fetch that failed too, named in the message."""

    def __init__(
        self, download: Download, kind: str, problem: str, others: tuple[DownloadError, ...] = ()
    ) -> None:
        text = f"{download.label}: {problem} ({download.url})"
        if others:
            listed = ", ".join(other.label for other in others[:5])
            more = f" and {len(others) - 5} more" if len(others) > 5 else ""
            text += f"; {len(others)} more files failed too: {listed}{more}"
        super().__init__(text)
        self.download, self.kind, self.problem, self.others = download, kind, problem, others
        self.label: str = download.label

    def with_others(self, others: list[DownloadError]) -> DownloadError:
        """This failure, its message naming the ``others`` that failed in the same fetch."""
        return DownloadError(self.download, self.kind, self.problem, tuple(others))


class ResumingDownloader:
    """A pooch downloader that appends to a partial file with a Range request when one is there."""

    def __init__(
        self, partial: Path, session: requests.Session, timeout: float, progress: tqdm
    ) -> None:
        self.partial = partial
        self.session = session
        self.timeout = timeout
        self.progress = progress
        self.counted = 0

    def __call__(self, url: str, output_file: str, pooch_: object, check_only: bool = False):
        """Fetch ``url`` into the partial file, then move it onto pooch's temporary file."""
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme == "file":  # a mirror on this machine or a mounted share
            source = Path(urllib.request.url2pathname(parsed.path))
            if check_only:
                return source.is_file()
            shutil.copyfile(source, output_file)
            return None
        if check_only:
            return self.session.head(url, timeout=self.timeout, allow_redirects=True).ok
        offset = self.partial.stat().st_size if self.partial.exists() else 0
        headers = {"Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        with self.session.get(url, headers=headers, stream=True, timeout=self.timeout) as response:
            if response.status_code == 416:  # the partial file is no prefix of this one: restart
                self.partial.unlink()
                return self(url, output_file, pooch_)
            response.raise_for_status()
            resumed = offset > 0 and response.status_code == 206
            position = offset if resumed else 0
            self.advance(position)
            with open(self.partial, "ab" if resumed else "wb") as file:
                for chunk in response.iter_content(chunk_size=1 << 16):
                    file.write(chunk)
                    position += len(chunk)
                    self.advance(position)
        os.replace(self.partial, output_file)
        return None

    def advance(self, position: int) -> None:
        """Move the shared progress bar to this file's furthest byte seen so far."""
        if position > self.counted:
            self.progress.update(position - self.counted)
            self.counted = position


def fetch_all(
    downloads: Iterable[Download],
    folder: Path,
    on_fetched: Callable[[Download, Path], None],
    *,
    workers: int = 4,
    timeout: float = 30.0,
    retries: int = 3,
    progress: bool | None = None,
) -> None:
    """Fetch every download into ``folder/key``, verified, and hand each to ``on_fetched`` at once.

    Every file is tried; the failures are raised as one DownloadError that names them all. What was
    verified stays, and a partial file is resumed by the next call. ``progress=None`` shows a bar on
    a terminal only.
    """
    downloads = list(downloads)
    fetcher = pooch.create(
        path=folder,
        base_url="",
        registry={item.key: f"sha256:{item.sha256}" for item in downloads},
        urls={item.key: item.url for item in downloads},
        retry_if_failed=retries,
    )
    for item in downloads:  # pooch makes a missing parent folder without exist_ok: racy in threads
        (folder / item.key).parent.mkdir(parents=True, exist_ok=True)
    sessions = threading.local()
    total = sum(item.size for item in downloads)
    disable = None if progress is None else not progress
    with tqdm(total=total, unit="B", unit_scale=True, desc="download", disable=disable) as bar:

        def fetch(item: Download) -> None:
            if not hasattr(sessions, "session"):
                sessions.session = requests.Session()
            partial = folder / f"{item.key}{PARTIAL_SUFFIX}"
            downloader = ResumingDownloader(partial, sessions.session, timeout, bar)
            try:
                path = Path(fetcher.fetch(item.key, downloader=downloader))
            except (requests.RequestException, ValueError, OSError) as error:
                raise _explain(item, error, timeout) from error
            on_fetched(item, path)

        logger, level = pooch.get_logger(), pooch.get_logger().level
        logger.setLevel("WARNING")  # the bar says it all; pooch logs a line per file
        pool = ThreadPoolExecutor(max_workers=max(1, workers))
        futures = [pool.submit(fetch, item) for item in downloads]
        failures: list[DownloadError] = []
        try:
            for future in as_completed(futures):
                try:
                    future.result()
                except DownloadError as error:
                    failures.append(error)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            logger.setLevel(level)
        if failures:
            raise failures[0].with_others(failures[1:])


def _explain(item: Download, error: Exception, timeout: float) -> DownloadError:
    """Turn what requests or pooch raised into a DownloadError that says what happened."""
    if isinstance(error, requests.HTTPError) and error.response is not None:
        response = error.response
        return DownloadError(
            item, "http", f"the server answered {response.status_code} {response.reason}"
        )
    if isinstance(error, ValueError) and not isinstance(error, requests.RequestException):
        return DownloadError(
            item,
            "checksum",
            "the file received is not the pinned one (SHA256 differs); it was not kept",
        )
    if isinstance(error, FileNotFoundError):
        return DownloadError(item, "http", "the mirror has no such file")
    text = str(error)
    if isinstance(error, requests.Timeout) or "timed out" in text:
        problem = f"no answer within {timeout:g} s"
    elif "refused" in text.lower():
        problem = "connection refused"
    elif "resolve" in text.lower() or "name or service" in text.lower():
        problem = "host name not found"
    else:
        problem = f"transfer failed ({type(error).__name__})"
    return DownloadError(item, "network", problem)


def check_mirror(mirror: str) -> str:
    """A mirror that is an http(s) or file URL, or a DataError saying so before anything is sent."""
    parsed = urllib.parse.urlparse(mirror)
    if parsed.scheme not in ("http", "https", "file") or not (parsed.netloc or parsed.path):
        raise DataError(
            f"--mirror {mirror!r} is not a URL; give one such as https://host/path (laid out as "
            f"<mirror>/<owner>/<repo>/<commit>/<path>), or unset {MIRROR_VAR}"
        )
    return mirror


def default_mirror() -> str:
    """The mirror named by ESPCN_DATA_MIRROR, else GitHub's raw-file host."""
    return os.environ.get(MIRROR_VAR) or DEFAULT_MIRROR


@dataclass
class Fetched:
    """What a fetch did: images fetched per set, and files already there that differ (kept)."""

    counts: dict[str, int]
    differing: list[Path]


def fetch_datasets(
    datasets: list[Dataset],
    data_dir: Path,
    mirror: str | None = None,
    *,
    workers: int = 4,
    timeout: float = 30.0,
    retries: int = 3,
    progress: bool | None = None,
) -> Fetched:
    """Fetch the images of each set that ``data_dir`` lacks; nothing already there is replaced.

    Raises DownloadError (naming the file and URL) on the first file that cannot be fetched; what
    was stored stays, and a rerun resumes.
    """
    mirror = check_mirror(mirror or default_mirror())
    todo: dict[str, tuple[Dataset, ImageEntry]] = {}
    differing = []
    for dataset in datasets:
        found = images_by_stem(data_dir / dataset.name)
        for entry in dataset.files:
            paths = found.get(entry.stem)
            if not paths:
                todo[f"{dataset.repository}/{dataset.commit}/{entry.path}"] = (dataset, entry)
            elif not any(is_reference(path, entry) for path in paths):
                differing.append(paths[0])
    counts = {dataset.name: 0 for dataset in datasets}
    if todo:
        staging = data_dir / STAGING

        def keep(item: Download, path: Path) -> None:
            dataset, entry = todo[item.key]
            store_image(path, entry, data_dir / dataset.name, path.parent, move=True)
            counts[dataset.name] += 1

        jobs = [
            Download(
                dataset.url_of(entry, mirror),
                entry.sha256,
                entry.size,
                key,
                f"{dataset.name}/{entry.name}",
            )
            for key, (dataset, entry) in todo.items()
        ]
        fetch_all(
            jobs,
            staging,
            keep,
            workers=workers,
            timeout=timeout,
            retries=retries,
            progress=progress,
        )
    # Everything is stored: what a killed fetch left to resume (partial and temporary files) goes.
    shutil.rmtree(data_dir / STAGING, ignore_errors=True)
    return Fetched(counts, differing)
