"""The package's shape, as a reader sees it from ``ls``: layers whose imports only go down, no
module too long to read, and lab code (benchmarks, browser helpers) outside the library."""

import ast
from pathlib import Path

import pytest

import espcn_lightning

PACKAGE = Path(espcn_lightning.__file__).parent
#: Each subpackage's floor; the top-level modules (the apps and the package's face) stand above.
LAYERS = {"core": 0, "datasets": 1, "inference": 1, "evaluation": 2, "training": 2}
APPS = 3
LONGEST = 400


def floor(module: str) -> int:
    """The floor of a dotted module name inside the package."""
    parts = module.split(".")
    return LAYERS.get(parts[1], APPS) if len(parts) > 1 else APPS


def modules() -> dict[str, Path]:
    """Every module of the installed library by dotted name."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path) -> set[str]:
    """The package modules a file imports, anywhere in it (function-level imports too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name.split(".")[0] == "espcn_lightning"}


def test_the_layers_are_the_folders_of_the_package():
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    folders = packages - {"conf"}  # the configs, a package only so that Hydra finds them
    assert folders == set(LAYERS)


@pytest.mark.parametrize("module", sorted(m for m in modules() if floor(m) < APPS))
def test_imports_only_go_down_a_floor_or_stay_in_their_own_package(module):
    for target in imports(modules()[module]):
        same_package = target.split(".")[:2] == module.split(".")[:2]
        assert same_package or floor(target) < floor(module), f"{module} imports {target}"


def test_apps_use_the_layers_not_each_other():
    apps = {m for m in modules() if m.count(".") == 1 and floor(m) == APPS}
    for app in apps:
        assert not imports(modules()[app]) & apps, f"{app} imports another app"


@pytest.mark.parametrize("module", sorted(modules()))
def test_no_module_is_longer_than_a_reader_takes_in(module):
    lines = len(modules()[module].read_text().splitlines())
    assert lines <= LONGEST, f"{module} has {lines} lines"


def test_lab_code_lies_outside_the_library():
    assert not any(name.split(".")[-1] in ("bench", "browser", "screenshots") for name in modules())
