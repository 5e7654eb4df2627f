"""Which config keys make a run the run it is: one declaration for the resume checks
(``runs``), the hyperparameters TensorBoard shows (``dashboard``) and the jobs sweeps share
(``sweeps``).

A run is its ``RUN`` keys: a resume may change anything else (the trainer's budget, say). Of
those, ``MACHINE`` leaves say where it ran, not what, and ``COPIES`` repeat a top-level key
(``model.scale`` is ``${scale}``). A user tunes the ``RUN`` keys and the ``BUDGET``; a sweep job is
its whole config but for ``PLACE``, the keys that say where its files go.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, ListConfig, OmegaConf

RUN = ("scale", "seed", "model", "data", "degradation", "optim")
MACHINE = ("data.data_dir", "data.num_workers")
COPIES = ("data.seed", "data.scale", "model.scale", "degradation.scale", "degradation.seed")
BUDGET = ("trainer.max_epochs", "epochs")
PLACE = ("study", "paths", "ckpt_path")
#: Config groups whose chosen option is itself a hyperparameter (``optim: adam_cosine``).
GROUPS = ("experiment", "sweep", "data", "degradation", "model", "optim")
#: What a user tunes, and the leaves of it that are not tuned.
TUNED = (*RUN, *BUDGET)
UNTUNED = (*MACHINE, *COPIES)

_ABSENT = "(absent)"


def under(key: str, prefixes: Sequence[str]) -> bool:
    """Whether a dotted key is one of ``prefixes`` or lies below one."""
    return any(key == prefix or key.startswith(f"{prefix}.") for prefix in prefixes)


def identity_changes(saved: DictConfig, new: DictConfig) -> list[str]:
    """The leaves of ``RUN`` that differ between two train configs, as 'key old -> new'.

    Leaves are compared as written first (so ``T_max: ${trainer.max_epochs}`` is unchanged when
    the budget changes) and resolved only where the text differs.
    """
    old, now = _identity_leaves(saved), _identity_leaves(new)
    changes = []
    for key in sorted(set(old) | set(now)):
        if key in MACHINE or old.get(key, _ABSENT) == now.get(key, _ABSENT):
            continue
        before = _resolved(saved, key, old.get(key, _ABSENT))
        after = _resolved(new, key, now.get(key, _ABSENT))
        if before != after:
            changes.append(f"{key} {_show(before)} -> {_show(after)}")
    return changes


def _identity_leaves(cfg: DictConfig) -> dict[str, Any]:
    """Dotted key -> leaf as written, for the identity part of a config (lists are leaves)."""
    leaves: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}.{key}" if prefix else str(key))
        else:
            leaves[prefix] = node

    raw = cast(dict, OmegaConf.to_container(cfg, resolve=False))
    for key in RUN:
        if key in raw:
            walk(raw[key], key)
    return leaves


def _resolved(cfg: DictConfig, key: str, raw: Any) -> Any:
    """A leaf's resolved value (``raw``, as written, where it cannot be resolved here)."""
    try:
        value = OmegaConf.select(cfg, key, default=_ABSENT)
    except Exception:
        return raw
    if isinstance(value, DictConfig | ListConfig):
        return OmegaConf.to_container(value, resolve=True)
    return value


def _show(value: Any) -> str:
    """A config value as a user would type it."""
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def run_name() -> str:
    """A run's name in its loggers: the overrides that say what it trains (Hydra's
    ``override_dirname``, e.g. ``data.batch_size=4 seed=1``); empty outside a Hydra job. The
    ``${run_name:}`` resolver, so TensorBoard lists a sweep's runs by what they vary."""
    return str(HydraConfig.get().job.override_dirname) if HydraConfig.initialized() else ""


OmegaConf.register_new_resolver("run_name", run_name, replace=True)


def job_key(config: DictConfig) -> dict[str, Any]:
    """What a sweep job computes: its config as written, the keys of ``PLACE`` aside."""
    container = cast(dict, OmegaConf.to_container(config, resolve=False))
    return {key: value for key, value in container.items() if key not in PLACE}
