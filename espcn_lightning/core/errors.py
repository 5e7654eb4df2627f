"""Errors a user can fix, under one base class, and the one error policy of every entry point:
a user error ends in one line, ``error: ...`` on stderr and exit status 1 (``one_line_errors``).

Anything else is a bug and keeps its traceback. Each class also keeps the built-in base it had
before this module existed, so code catching ``ValueError`` or ``RuntimeError`` still works.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import NoReturn, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


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


class OutputError(UserError, OSError):
    """A file could not be written (no space, read-only, no permission, name too long); the
    message names the path, the cause and what to do. Nothing half-written is left behind."""


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


def say(message: str) -> None:
    """Print one problem a user can fix, as every command prints it: ``error: ...`` on stderr."""
    print(f"error: {message}", file=sys.stderr)


def fail(error: BaseException) -> NoReturn:
    """End the process on a user error: its one line, exit status 1."""
    say(str(error))
    sys.exit(1)


def one_line_errors(main: Callable[P, R], *, exit: bool = False) -> Callable[P, R | int]:
    """Wrap an entry point: a UserError (also one Hydra's ``instantiate`` wrapped) is printed in
    one line and ends the call with status 1 (returned, or with ``exit`` the process's exit
    status, for Hydra tasks whose return value is not one); anything else keeps its traceback."""

    @functools.wraps(main)
    def run(*args: P.args, **kwargs: P.kwargs) -> R | int:
        try:
            return main(*args, **kwargs)
        except Exception as raised:
            error = user_error(raised)
            if error is None:
                raise
            if exit:
                fail(error)
            say(str(error))
            return 1

    return run
