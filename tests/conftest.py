"""Shared test fixtures: the real benchmark data directory and small images of every mode."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("ESPCN_DATA_DIR", ROOT / "data")).resolve()
REFERENCE_DIR = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real benchmark images (`make data` fetches them; CI: ../shared/data)."""
    assert (DATA_DIR / "T91").is_dir(), (
        f"benchmark data not found at {DATA_DIR}; run `make data` or set ESPCN_DATA_DIR"
    )
    return DATA_DIR


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Independent test vectors (tests/fixtures)."""
    assert REFERENCE_DIR.is_dir(), f"reference vectors not found at {REFERENCE_DIR}"
    return REFERENCE_DIR
