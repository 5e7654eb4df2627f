"""A study's trials read back for the report: each trial's state, parameters, score, epochs and
run dir, and what pruning saved (the epochs pruned trials did not train)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import optuna
from omegaconf import OmegaConf
from optuna.trial import FrozenTrial, TrialState

from espcn_lightning.core.errors import RunDirError
from espcn_lightning.training.runs import read_summary
from espcn_lightning.training.study import RUN_DIR, TRIALS, storage
from espcn_lightning.training.sweeps import saved_config, study_storage


def load_study(sweep_dir: Path) -> optuna.Study:
    """The (only) study in ``sweep_dir``, read only."""
    kind = study_storage(sweep_dir)
    if kind is None:
        raise RunDirError(f"{sweep_dir} holds no study (study.journal or study.db)")
    where = storage(sweep_dir, kind)
    names = optuna.get_all_study_names(where)
    return optuna.load_study(study_name=names[0], storage=where)


@dataclass
class TrialRow:
    """One trial as the report shows it."""

    number: int
    state: str
    params: dict
    value: float | None
    epochs: int
    pruned_at: int | None
    seconds: float | None
    run_dir: str


def trial_row(trial: FrozenTrial, sweep_dir: Path) -> TrialRow:
    """A trial's row: the study's record, completed by its run's summary.json."""
    run_dir = trial.user_attrs.get(RUN_DIR, f"{TRIALS}/{trial.number:04d}")
    summary = read_summary(sweep_dir / run_dir)[0] or {}
    reported = max(trial.intermediate_values, default=-1) + 1
    return TrialRow(
        number=trial.number,
        state=trial.state.name.lower(),
        params=dict(trial.params),
        value=trial.value if trial.state == TrialState.COMPLETE else None,
        epochs=int(summary.get("epochs", reported)),
        pruned_at=summary.get("pruned_at_epoch"),
        seconds=summary.get("train_seconds"),
        run_dir=run_dir,
    )


def trial_rows(study: optuna.Study, sweep_dir: Path) -> list[TrialRow]:
    """Every trial but those failed and queued again, best first, then by number."""
    rows = [
        trial_row(t, sweep_dir)
        for t in study.get_trials(deepcopy=False)
        if t.state != TrialState.FAIL
    ]
    return sorted(rows, key=lambda r: (r.value is None, -(r.value or 0.0), r.number))


def recipe(sweep_dir: Path) -> list[str]:
    """The overrides that train a trial of the study in ``sweep_dir`` outside it: the study's
    command line with its sweep config (``sweep=optuna``) swapped for ``hydra.sweeper.recipe``
    (``sweep=base``, the config it extends without the study sweeper); [] if none was saved."""
    config = saved_config(sweep_dir)
    instead = OmegaConf.select(config, "hydra.sweeper.recipe", default=None) if config else None
    if config is None or not instead:
        return []
    task = [str(o) for o in OmegaConf.select(config, "hydra.overrides.task", default=[])]
    return [*map(str, instead), *(o for o in task if o.split("=")[0] != "sweep")]


def param_overrides(row: TrialRow) -> list[str]:
    """A trial's parameters as overrides, floats written in full so that they reproduce it."""
    return [f"{key}={value!r}" for key, value in row.params.items()]


def retrain_command(row: TrialRow, overrides: list[str], seeds: str = "1,2,3") -> str:
    """The command that trains a trial's parameters again over ``seeds`` with the study's recipe
    (``overrides``), so that its own seed reproduces it."""
    params = param_overrides(row)
    kept = [o for o in overrides if o.split("=")[0].lstrip("+~") not in (*row.params, "seed")]
    return " ".join(["python -m espcn_lightning.train -m", *kept, f"seed={seeds}", *params])


def best_lines(rows: list[TrialRow], sweep_dir: Path) -> list[str]:
    """Markdown: the best completed trial and the command that retrains it over three seeds
    (only where the study saved its ``hydra.sweeper.recipe``: without it no command is sure)."""
    best = rows[0] if rows and rows[0].value is not None else None
    if best is None:
        return []
    overrides = recipe(sweep_dir)
    if not overrides:
        params = " ".join(param_overrides(best))
        return [f"Best: trial {best.number}, {best.value:.3f} dB: `{params}`.", ""]
    head = f"Best: trial {best.number}, {best.value:.3f} dB; retrained over three seeds by"
    return [head, "", f"    {retrain_command(best, overrides)}", ""]


def trial_budget(sweep_dir: Path, rows: list[TrialRow]) -> int:
    """The epochs a trial may train: the sweep's ``trainer.max_epochs`` as resolved (it is
    ``${epochs}`` in the recipes), else the most any trial trained."""
    config = saved_config(sweep_dir)
    budget = OmegaConf.select(config, "trainer.max_epochs") if config is not None else None
    return int(budget) if budget is not None else max((r.epochs for r in rows), default=0)


def epochs_saved(rows: list[TrialRow], budget: int) -> tuple[int, int]:
    """Epochs the finished trials trained, and the epochs pruning spared them against ``budget``
    epochs each."""
    finished = [r for r in rows if r.state in ("complete", "pruned")]
    trained = sum(r.epochs for r in finished)
    return trained, budget * len(finished) - trained


def wall_seconds(study: optuna.Study) -> float:
    """From the first trial's start to the last one's end."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.datetime_complete is not None]
    if not trials:
        return 0.0
    start = min(t.datetime_start for t in trials if t.datetime_start is not None)
    end = max(t.datetime_complete for t in trials if t.datetime_complete is not None)
    return (end - start).total_seconds()
