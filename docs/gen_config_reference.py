"""Write configuration.md, the configuration reference, from espcn_lightning/conf/ at build time.

Run by mkdocs-gen-files (mkdocs.yml), so the page cannot drift from the configs: every folder of
conf/ that holds YAML files is a config group (hydra/launcher, hydra/sweeper and
hydra/sweeper/pruner included), every YAML file in it an option, shown with its leading comment
lines as prose and the file itself as a code block. The YAML files directly in conf/ are the
commands' primary configs.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import mkdocs_gen_files
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "espcn_lightning" / "conf"
PAGE = "configuration.md"
#: The primary configs (conf/NAME.yaml is the config of ``python -m espcn_lightning.NAME``),
#: train and evaluate first.
PRIMARY = sorted(
    (path.stem for path in CONF.glob("*.yaml")),
    key=lambda name: (name != "train", name != "evaluate", name),
)


def config_groups(conf: Path = CONF) -> list[str]:
    """Every folder under ``conf`` holding YAML files, as a group name (``hydra/sweeper``)."""
    folders = {path.parent for path in conf.rglob("*.yaml") if path.parent != conf}
    return sorted(folder.relative_to(conf).as_posix() for folder in folders)


def leading_comment(text: str) -> tuple[list[str], bool]:
    """The comment lines a YAML file starts with (``#`` stripped), and whether it is
    ``# @package _global_``."""
    lines, global_package = [], False
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        body = line[1:].strip()
        if body.startswith("@package"):
            global_package = "_global_" in body
            continue
        lines.append(body)
    return lines, global_package


def prose(lines: list[str]) -> str:
    """Comment lines as one Markdown paragraph, taken literally outside code spans (no HTML, no
    links from ``[epochs=300]``, no emphasis from ``*``)."""
    text = " ".join(line for line in lines if line)
    parts = re.split(r"(`[^`]*`)", text)
    return "".join(part if part.startswith("`") else literal(part) for part in parts)


def literal(text: str) -> str:
    """Markdown that renders as ``text`` itself."""
    return re.sub(r"([\\`*_\[\]])", r"\\\1", html.escape(text, quote=False))


def defaults(primary: str) -> dict[str, str]:
    """Each group's default option in a primary config's defaults list."""
    loaded = yaml.safe_load((CONF / f"{primary}.yaml").read_text()) or {}
    chosen = {}
    for entry in loaded.get("defaults", []):
        if isinstance(entry, dict):
            for group, option in entry.items():
                group = group.removeprefix("override ").strip()
                chosen[group] = "null" if option is None else str(option)
    return chosen


def option_block(path: Path, heading: str) -> list[str]:
    """One config file: its heading, its comment as prose, and the file itself."""
    text = path.read_text()
    comment, global_package = leading_comment(text)
    lines = [f"### {heading}", ""]
    if comment:
        lines += [prose(comment), ""]
    if global_package:
        lines += [
            "*Package `_global_`: its keys are set from the root of the config, not under the "
            "group's name.*",
            "",
        ]
    lines += ["```yaml", text.rstrip("\n"), "```", ""]
    return lines


def selector(group: str) -> str:
    """How an option of ``group`` is chosen."""
    if group == "hydra":
        return "the `hydra` entry of a primary config's defaults list"
    return f"`{group}=OPTION` on the command line"


def page() -> str:
    chosen = {command: defaults(command) for command in PRIMARY}
    groups = config_groups()
    lines = [
        "# Configuration reference",
        "",
        "Generated from `espcn_lightning/conf/` each time the site is built, so it lists exactly "
        "the configs the installed package ships. Every folder there is a Hydra *config group* "
        "and every YAML file in it an *option* of that group; the files directly in `conf/` are "
        "the primary configs of the Hydra commands ("
        + ", ".join(f"`{command}`" for command in PRIMARY)
        + ").",
        "",
        "On the command line:",
        "",
        "- `group=option` picks an option (`optim=paper`, `degradation=gaussian`, "
        "`hydra/launcher=parallel`); `experiment=NAME` applies a whole recipe on top;",
        "- `key=value` changes one value (`data.batch_size=8`, `trainer.max_epochs=30`), "
        "`+key=value` adds one the config lacks, `~key` removes one (`~callbacks.channels_last`);",
        "- `-m` with comma-separated values, or `sweep=NAME`, runs a multirun (see "
        "[Sweeps](sweeps.md));",
        "- `--config-dir DIR` adds a folder of your own configs on top of these, e.g. "
        "`DIR/experiment/mine.yaml` run as `experiment=mine` "
        "([Getting started](getting-started.md#your-own-configs)).",
        "",
        "## Config groups",
        "",
        "| group | options | "
        + " | ".join(f"default in `{command}`" for command in PRIMARY)
        + " |",
        "|---|---|" + "---|" * len(PRIMARY),
    ]
    for group in groups:
        options = sorted(path.stem for path in (CONF / group).glob("*.yaml"))
        listed = ", ".join(f"`{option}`" for option in options)
        picked = [chosen[command].get(group) for command in PRIMARY]
        cells = [f"`{option}`" if option else "" for option in picked]
        lines.append(f"| [`{group}`](#{anchor(group)}) | {listed} | " + " | ".join(cells) + " |")
    lines += ["", "## Primary configs", ""]
    for command in PRIMARY:
        heading = f"`{command}.yaml` (`python -m espcn_lightning.{command}`)"
        lines += option_block(CONF / f"{command}.yaml", heading)
    for group in groups:
        lines += [f"## `{group}` {{#{anchor(group)}}}", ""]
        used = [
            f"`{command}` uses `{chosen[command][group]}`"
            for command in chosen
            if group in chosen[command]
        ]
        summary = f"Chosen with {selector(group)}."
        if used:
            summary += " By default " + ", ".join(used) + "."
        lines += [summary, ""]
        for path in sorted((CONF / group).glob("*.yaml")):
            lines += option_block(path, f"`{group}/{path.stem}`")
    return "\n".join(lines) + "\n"


def anchor(group: str) -> str:
    """The heading id of a group's section."""
    return "group-" + group.replace("/", "-")


with mkdocs_gen_files.open(PAGE, "w") as out:
    out.write(page())
mkdocs_gen_files.set_edit_path(PAGE, "gen_config_reference.py")
