"""Fill commands.md's help markers with each argparse command's own --help, at build time.

Run by mkdocs-gen-files (mkdocs.yml). A line ``<!-- help: upscale -->`` (or ``<!-- help: data
download -->`` for a subcommand) in docs/commands.md becomes the text ``python -m
espcn_lightning.upscale --help`` prints, taken from the command's own parser, so the reference
cannot drift from the code. An unknown command or an empty help fails the build.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import re

import mkdocs_gen_files

PAGE = "commands.md"
MARKER = re.compile(r"^<!-- help: ([a-z_]+)((?: [a-z_]+)*) -->$", re.MULTILINE)
#: Width of the help text, whatever terminal builds the site.
COLUMNS = "80"


def help_text(command: str, subcommands: list[str]) -> str:
    """What ``python -m espcn_lightning.COMMAND [SUB...] --help`` prints."""
    module = importlib.import_module(f"espcn_lightning.{command}")
    out = io.StringIO()
    before = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = COLUMNS
    try:
        with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
            module.main([*subcommands, "--help"])
    finally:
        if before is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = before
    text = out.getvalue().rstrip()
    if not text.startswith("usage:"):
        raise RuntimeError(f"espcn_lightning.{command} {' '.join(subcommands)}: no --help text")
    return text


def block(match: re.Match) -> str:
    command, subcommands = match.group(1), match.group(2).split()
    shown = " ".join(["python -m espcn_lightning." + command, *subcommands, "--help"])
    return f"```text\n$ {shown}\n{help_text(command, subcommands)}\n```"


with mkdocs_gen_files.open(PAGE, "r") as source:
    template = source.read()
filled, count = MARKER.subn(block, template)
if count == 0:
    raise RuntimeError(f"{PAGE}: no <!-- help: COMMAND --> marker to fill")
with mkdocs_gen_files.open(PAGE, "w") as out:
    out.write(filled)
