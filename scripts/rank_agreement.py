"""How early a trial's rank is its final rank: ``python -m scripts.rank_agreement SWEEP_DIR ...``.

For the completed trials of the studies given (their curves need all epochs), the Spearman rank
correlation between each trial's validation PSNR at epoch e and its best over the whole budget,
and how many of the best five were below the median at e (what a median pruner with
``n_warmup_steps`` = e would stop). It tells how long a pruner must wait before a curve means
anything. Lab code, not installed; needs the [sweep] extra.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from optuna.trial import FrozenTrial, TrialState

from espcn_lightning.training.study_results import load_study

EPOCHS = (5, 10, 20, 30, 50, 75, 100, 150, 200)


def ranks(values: np.ndarray) -> np.ndarray:
    """The rank of each value (0 the lowest), tied values sharing their mean rank: trials on one
    seed and batch size have the same curve until their schedules first differ."""
    order = np.argsort(values, kind="stable")
    plain = np.empty(len(values))
    plain[order] = np.arange(len(values))
    _, group = np.unique(values, return_inverse=True)
    return np.bincount(group, plain)[group] / np.bincount(group)[group]


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (Pearson's on the tie-averaged ranks)."""
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def agreement(trials: list[FrozenTrial], epochs: tuple[int, ...] = EPOCHS) -> list[dict]:
    """For each epoch, the rank correlation with the final best and the best five's fate."""
    done = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
    final = np.array([t.value for t in done])
    top = np.argsort(-final)[:5]
    rows = []
    for epoch in epochs:
        at = np.array([t.intermediate_values.get(epoch, np.nan) for t in done])
        if np.isnan(at).any():
            continue
        below = int((at[top] < np.median(at)).sum())
        rows.append({"epoch": epoch, "rho": spearman(at, final), "top5_below_median": below})
    return rows


def main(argv: list[str] | None = None) -> int:
    """Command line: the sweep dirs of one or more studies over the same budget."""
    parser = argparse.ArgumentParser(prog="python -m scripts.rank_agreement", description=__doc__)
    parser.add_argument("sweep_dirs", type=Path, nargs="+")
    args = parser.parse_args(argv)
    trials = [t for d in args.sweep_dirs for t in load_study(d).get_trials(deepcopy=False)]
    rows = agreement(trials)
    print(f"{sum(t.state == TrialState.COMPLETE for t in trials)} completed trials")
    print("| epoch | rank correlation with the final best | best five below the median |")
    print("|---:|---:|---:|")
    for row in rows:
        print(f"| {row['epoch']} | {row['rho']:+.2f} | {row['top5_below_median']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
