"""Results in a real browser: headless Chromium driven by Playwright; TensorBoard on a free port.

Used by the browser tests and ``make screenshots``. The browser is the distribution's Chromium
(``apt-get install chromium``), launched through its path: Playwright never downloads one.
``ESPCN_CHROMIUM`` names another binary.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser

#: Quiet, offline, container-safe headless Chromium.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def chromium_path() -> Path:
    """The Chromium binary: ESPCN_CHROMIUM, else ``chromium`` on the PATH or in /usr/bin."""
    named = os.environ.get("ESPCN_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return Path(named)


def browser_missing() -> str | None:
    """Why no browser can start here, as a one-line fix, or None when one can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed: pip install -e '.[browser]'"
    if not chromium_path().is_file():
        return f"no Chromium at {chromium_path()}: apt-get install chromium, or set ESPCN_CHROMIUM"
    return None


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium for the duration of the block."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium_path()), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def tensorboard(logdir: str | Path, timeout: float = 90.0) -> Iterator[str]:
    """Serve TensorBoard for ``logdir`` on 127.0.0.1 at a free port; yield its URL once it lists
    a run, and stop it when the block ends."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir)]
        process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for_runs(url, process, timeout, log)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_runs(url: str, process: subprocess.Popen, timeout: float, log) -> None:
    """Poll TensorBoard until it serves a non-empty run list; fail with its output if it dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            output = log.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"TensorBoard exited with {process.returncode}:\n{output}")
        try:
            with urllib.request.urlopen(f"{url}/data/runs", timeout=2) as response:
                if json.load(response):
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            pass
        time.sleep(0.25)
    raise TimeoutError(f"TensorBoard at {url} listed no run within {timeout:.0f} s")
