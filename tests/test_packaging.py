"""What a user installs: every lower bound pyproject.toml claims is the version CI tests
(constraints/lowest.txt), and the wheel carries every config and data file the commands read."""

import fnmatch
import re
from pathlib import Path

import tomllib

import espcn_lightning

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def name(requirement: str) -> str:
    """A requirement's distribution name, normalised."""
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_lower_bound_is_the_version_the_lowest_install_pins():
    pins = {}
    for line in (ROOT / "constraints" / "lowest.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            package, version = line.split("==")
            pins[package.lower()] = version
    bounds = {name(r): re.search(r">=([\w.]+)", r).group(1) for r in PROJECT["dependencies"]}
    assert bounds == pins


def test_the_wheel_carries_every_config_and_data_file_of_the_package():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["espcn_lightning"]
    package = Path(espcn_lightning.__file__).parent
    needed = [
        p.relative_to(package).as_posix()
        for p in package.rglob("*")
        if p.is_file() and p.suffix in (".yaml", ".json", ".safetensors", ".md")
    ]
    assert needed
    missing = [f for f in needed if not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)]
    assert missing == []
