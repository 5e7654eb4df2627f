"""Checks of option values that would otherwise fail deep inside a run, after minutes of work or
with a traceback: each refuses in one line naming the option and what to use instead."""

from __future__ import annotations

from espcn_lightning.errors import ConfigError


def _whole(value: object) -> bool:
    """An int and not a bool (OmegaConf and YAML give ints; a bool is an int to Python)."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_scale(scale: object) -> int:
    """``scale``: an integer upscaling factor of at least 2."""
    if not _whole(scale) or scale < 2:
        raise ConfigError(f"scale={scale}: use a whole upscaling factor of at least 2, such as 3")
    return scale


def check_positive(option: str, value: object) -> int:
    """A count or size option: a whole number of at least 1."""
    if not _whole(value) or value < 1:
        raise ConfigError(f"{option}={value}: use a whole number of at least 1")
    return value
