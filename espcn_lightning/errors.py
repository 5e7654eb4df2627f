"""Errors a user can fix, under one base class: entry points print their one-line message and exit.

Anything else is a bug and keeps its traceback. Each class also keeps the built-in base it had
before this module existed, so code catching ``ValueError`` or ``RuntimeError`` still works.
"""

from __future__ import annotations


class UserError(Exception):
    """Bad input, option or file; the message names it and says what to do."""


class ConfigError(UserError, ValueError):
    """A config value that cannot work (an option out of range, a model with nothing to train)."""


class DataError(UserError, RuntimeError):
    """A data directory or dataset is missing or incomplete; the message says how to fix it."""


class ImageReadError(UserError, ValueError):
    """An image file could not be read; the message names the file and what to do."""


class WeightsError(UserError, ValueError):
    """A model name or file could not be loaded; the message says which and why."""


class EngineError(UserError, RuntimeError):
    """An engine that cannot run here; the message says what to install or choose instead."""


class UpscaleError(UserError, RuntimeError):
    """Bad input or output path for upscaling; the message says which and what to do."""


class RunExistsError(UserError, FileExistsError):
    """A training run dir already holds checkpoints that a new run would overwrite."""


class RunDirError(UserError, RuntimeError):
    """A run or sweep dir cannot be used as asked (in use, another run's, a changed resume or
    sweep); the message says why and what to do instead. Nothing in the dir was changed."""


class NonFiniteLossError(UserError, FloatingPointError):
    """Training produced a NaN or infinite loss; the message names where and at which rate."""


def user_error(error: BaseException) -> UserError | None:
    """The UserError behind ``error``: itself, or the cause Hydra's ``instantiate`` wrapped."""
    current: BaseException | None = error
    while current is not None and not isinstance(current, UserError):
        current = current.__cause__
    return current
