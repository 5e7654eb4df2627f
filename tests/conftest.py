"""Shared test fixtures: the benchmark data, composed train configs, TensorBoard scalars.

Tests that take ``data_dir`` are marked ``data`` (``-m "not data"`` runs the
unit tests alone) and skip with the reason when the images are missing, unless
ESPCN_REQUIRE_DATA is set (CI), where a missing data directory fails them.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from espcn_lightning import CONFIG_DIR
from espcn_lightning.datasets.catalogue import calibration_images
from espcn_lightning.training.sweep_results import tensorboard_run
from scripts.browser import browser_missing, chromium

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("ESPCN_DATA_DIR", ROOT / "data")).resolve()
REFERENCE_DIR = Path(__file__).parent / "fixtures"
DATA_FIXTURES = {"data_dir"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs the benchmark images as ``data``."""
    for item in items:
        if DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.data)


def _needed(folder: Path, what: str) -> Path:
    """``folder`` if it exists; else skip with the reason (fail when ESPCN_REQUIRE_DATA is set)."""
    if not folder.is_dir():
        message = f"{what} not found at {folder}; set ESPCN_DATA_DIR"
        if os.environ.get("ESPCN_REQUIRE_DATA"):
            pytest.fail(message)
        pytest.skip(message)
    return folder


@pytest.fixture(autouse=True)
def engine_cache(tmp_path_factory, monkeypatch) -> Path:
    """``auto``'s measured engine choices go to a fresh file per test, never the user's cache."""
    path = tmp_path_factory.mktemp("engine-cache") / "engines.json"
    monkeypatch.setenv("ESPCN_ENGINE_CACHE", str(path))
    return path


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real benchmark images (`make data` fetches them; CI: ../shared/data)."""
    return _needed(DATA_DIR / "T91", "benchmark data (run `make data`)").parent


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Independent test vectors (tests/fixtures): small tables of numbers shipped with the tests."""
    return REFERENCE_DIR


@pytest.fixture(scope="session")
def root() -> Path:
    """The project checkout: the working directory of the command-line runs."""
    return ROOT


@pytest.fixture(scope="session")
def run(root) -> Callable[..., subprocess.CompletedProcess]:
    """Run a command from the project checkout, capturing its output (5-minute limit)."""

    def run_command(cmd: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=300, **kwargs)

    return run_command


@pytest.fixture
def train_config() -> Callable[..., DictConfig]:
    """Compose ``conf/train.yaml`` with overrides; its outputs go to ``output_dir`` if given."""

    def make(
        output_dir: Path | None = None, overrides: Sequence[str] = (), hydra: bool = False
    ) -> DictConfig:
        GlobalHydra.instance().clear()
        with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
            cfg = compose("train", overrides=list(overrides), return_hydra_config=hydra)
        if output_dir is not None:
            with open_dict(cfg):
                cfg.paths.output_dir = str(output_dir)
        return cfg

    return make


@pytest.fixture
def tensorboard_scalars() -> Callable[[Path, str], list]:
    """The events of one scalar tag in a run's tensorboard/ folder ([] when never logged)."""

    def read(run_dir: Path, tag: str) -> list:
        folder = tensorboard_run(run_dir) or run_dir / "tensorboard"
        events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        events.Reload()
        return events.Scalars(tag) if tag in events.Tags().get("scalars", []) else []

    return read


@pytest.fixture
def t91_calibration(data_dir) -> list[np.ndarray]:
    """LR Y crops of the first T91 images (training data, never test) for int8 calibration."""
    return calibration_images(data_dir, 3, count=4)


def require_or_skip(reason: str | None) -> None:
    """Skip with ``reason`` (what to install), or fail where ESPCN_REQUIRE_BROWSER says the
    browser checks must run (.ci/run sets it)."""
    if reason and os.environ.get("ESPCN_REQUIRE_BROWSER"):
        pytest.fail(reason)
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    """A browser context of headless Chromium, or a skip saying what to install."""
    require_or_skip(browser_missing())
    with chromium() as instance:
        context = instance.new_context()
        context.set_default_timeout(60_000)  # TensorBoard is slow to draw on a busy 2-core machine
        yield context
