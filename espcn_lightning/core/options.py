"""Checks of option values that would otherwise fail deep inside a run, after minutes of work or
with a traceback: each refuses in one line naming the option and what to use instead."""

from __future__ import annotations

from espcn_lightning.core.errors import ConfigError


def _whole(value: object) -> int | None:
    """``value`` if it is an int and not a bool (a bool is an int to Python), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check_scale(scale: object) -> int:
    """``scale``: an integer upscaling factor of at least 2."""
    value = _whole(scale)
    if value is None or value < 2:
        raise ConfigError(f"scale={scale}: use a whole upscaling factor of at least 2, such as 3")
    return value


def check_positive(option: str, value: object) -> int:
    """A count or size option: a whole number of at least 1."""
    number = _whole(value)
    if number is None or number < 1:
        raise ConfigError(f"{option}={value}: use a whole number of at least 1")
    return number


def check_positive_number(option: str, value: object) -> float:
    """A rate or size option: a number above 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(f"{option}={value}: use a number above 0")
    return float(value)


def check_whole(option: str, value: object) -> int:
    """A seed or count that may be 0 or negative, but must be a whole number."""
    number = _whole(value)
    if number is None:
        raise ConfigError(f"{option}={value}: use a whole number")
    return number


def check_epochs(value: object) -> int:
    """``trainer.max_epochs``: a whole number of at least 1 (Lightning's -1 trains forever)."""
    if value == -1 or value is None:
        raise ConfigError(
            f"trainer.max_epochs={value} would train without end; give a number of epochs, "
            "such as trainer.max_epochs=300"
        )
    return check_positive("trainer.max_epochs", value)
