"""Queue trials of a study into a new one: ``python -m scripts.requeue_trials SRC DST N [N ...]``.

What pruning cost a study is only known by training what it pruned: this puts the parameters of
trials ``N`` of the study in sweep dir ``SRC`` into a new study in ``DST`` with the same space,
so that ``python -m espcn_lightning.train -m sweep=optuna hydra/sweeper/pruner=none
hydra.sweeper.n_trials=<count> hydra.sweep.dir=DST`` runs them to the end (on the same seed, so
their first epochs repeat the pruned trials'). Lab code, not installed; needs the [sweep] extra.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from espcn_lightning.core.errors import RunDirError, one_line_errors
from espcn_lightning.training.study import open_study, space_of
from espcn_lightning.training.study_results import load_study

#: The user attribute naming the trial of the source study that a queued trial repeats.
SOURCE_TRIAL = "source_trial"


def requeue(source_dir: Path, target_dir: Path, numbers: list[int]) -> list[int]:
    """Queue the parameters of trials ``numbers`` of ``source_dir``'s study into a new study in
    ``target_dir``; returns the numbers queued. A target that holds a study already is refused:
    its trials are someone's results."""
    if target_dir.exists() and any(target_dir.iterdir()):
        raise RunDirError(f"{target_dir} is not empty; queue the trials into a new sweep dir")
    source = load_study(source_dir)
    trials = {t.number: t for t in source.get_trials(deepcopy=False)}
    missing = [n for n in numbers if n not in trials]
    if missing:
        raise RunDirError(f"{source_dir}: its study has no trial {missing} (0-{len(trials) - 1})")
    settings = {"study_name": source.study_name, "storage": "journal"}
    target = open_study(target_dir, settings, space_of(source))
    for number in numbers:
        target.enqueue_trial(trials[number].params, user_attrs={SOURCE_TRIAL: number})
    return numbers


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    """Command line: the source sweep dir, the new one, the trial numbers."""
    parser = argparse.ArgumentParser(prog="python -m scripts.requeue_trials", description=__doc__)
    parser.add_argument("source", type=Path, help="the sweep dir of the study")
    parser.add_argument("target", type=Path, help="a new sweep dir")
    parser.add_argument("trials", type=int, nargs="+", help="trial numbers")
    args = parser.parse_args(argv)
    queued = requeue(args.source, args.target, args.trials)
    print(f"{len(queued)} trials queued in {args.target}: {queued}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
