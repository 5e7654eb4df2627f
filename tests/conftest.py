"""Shared test fixtures: the real benchmark data directory and small images of every mode."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("ESPCN_DATA_DIR", ROOT.parent / "shared" / "data")).resolve()
REFERENCE_DIR = DATA_DIR.parent / "reference"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real benchmark images (CI: ../shared/data)."""
    assert (DATA_DIR / "T91").is_dir(), (
        f"benchmark data not found at {DATA_DIR}; set ESPCN_DATA_DIR"
    )
    return DATA_DIR


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """Independent test vectors beside the data (../shared/reference)."""
    assert REFERENCE_DIR.is_dir(), f"reference vectors not found at {REFERENCE_DIR}"
    return REFERENCE_DIR
