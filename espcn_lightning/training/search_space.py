"""A study's search space, written in Hydra's sweep grammar and read as Optuna distributions.

``hydra.sweeper.params`` of ``sweep=optuna`` keeps the grammar users know from Hydra's own
sweepers: ``choice(4, 8, 16)``, ``interval(0.5, 0.9)``, ``range(1, 9, 2)`` and ``tag(log,
interval(1e-8, 1e-2))``; a plain value (``seed: 1``) is fixed for every trial. Hydra parses the
grammar; this module only maps what it parsed to Optuna's distributions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    distribution_to_json,
    json_to_distribution,
)

from espcn_lightning.core.errors import ConfigError

Space = dict[str, BaseDistribution]


def distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of one sweep override, or a ConfigError naming the key."""
    key, sweep = override.get_key_element(), override.value()
    log = "log" in getattr(sweep, "tags", set())
    if isinstance(sweep, ChoiceSweep):
        return CategoricalDistribution([value for value in sweep.list])  # type: ignore[misc]
    if isinstance(sweep, RangeSweep):
        start, stop, step = sweep.start, sweep.stop, sweep.step
        assert start is not None and stop is not None, "Hydra's range has both ends"
        if all(isinstance(v, int) for v in (start, stop, step)):
            return IntDistribution(int(start), int(stop) - int(step), step=int(step))
        return FloatDistribution(float(start), float(stop) - float(step), step=float(step))
    if isinstance(sweep, IntervalSweep):
        low, high = sweep.start, sweep.end
        assert low is not None and high is not None, "Hydra's interval has both ends"
        if isinstance(low, int) and isinstance(high, int) and not log:
            return IntDistribution(low, high)
        return FloatDistribution(float(low), float(high), log=log)
    raise ConfigError(
        f"hydra.sweeper.params.{key}: {override.get_value_element_as_str()!r} is not a search "
        "dimension; use choice(...), range(...), interval(a, b) or tag(log, interval(a, b))"
    )


def parse(params: Mapping[str, Any], arguments: list[str]) -> tuple[Space, list[str]]:
    """The search space (the sweep overrides of ``params`` and ``arguments``) and the plain
    overrides every trial shares, in Hydra's override syntax."""
    lines = [f"{key}={value}" for key, value in params.items()] + list(arguments)
    space: Space = {}
    fixed: list[str] = []
    for override in OverridesParser.create().parse_overrides(lines):
        if override.is_sweep_override():
            space[override.get_key_element()] = distribution(override)
        else:
            fixed.append(override.input_line or "")
    if not space:
        raise ConfigError("hydra.sweeper.params has no search dimension: give choice(...) etc.")
    return space, fixed


def to_json(space: Space) -> str:
    """The space as one canonical JSON text, stored with the study to refuse a changed one."""
    return json.dumps({k: json.loads(distribution_to_json(v)) for k, v in sorted(space.items())})


def from_json(text: str) -> Space:
    """A space stored with ``to_json``."""
    return {k: json_to_distribution(json.dumps(v)) for k, v in json.loads(text).items()}
