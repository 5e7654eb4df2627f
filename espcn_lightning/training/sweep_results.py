"""A sweep's jobs read back from their dirs (overrides, summary.json, TensorBoard curves) and
grouped over seeds: what the sweep report (``python -m espcn_lightning.report``) tabulates."""

from __future__ import annotations

import csv
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from espcn_lightning.core.errors import RunDirError
from espcn_lightning.training import sweeps
from espcn_lightning.training.runs import read_summary


@dataclass
class Job:
    """One run of a sweep: its swept value, seed, summary and logged curves; ``name`` is its dir
    and ``note`` says, for a job that did not complete, what is known of it."""

    value: str
    seed: str
    summary: dict
    curves: dict[str, list[float]] = field(default_factory=dict)
    name: str = ""
    note: str = ""

    @property
    def outcome(self) -> str:
        """'completed', 'failed', or 'missing' (not run, interrupted, or no summary.json)."""
        status = self.summary.get("status")
        return status if status in ("completed", "failed") else "missing"


def job_overrides(job_dir: Path) -> list[str] | None:
    """A job's command-line and sweep overrides as saved in its dir, or None."""
    try:
        overrides = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text())
    except (OSError, yaml.YAMLError):
        return None
    return [str(o) for o in overrides] if isinstance(overrides, list) else None


def pairs(overrides: list[str]) -> dict[str, str]:
    """Overrides as key -> value."""
    return dict(item.split("=", 1) for item in overrides if "=" in item)


def job_status(job_dir: Path) -> tuple[dict, str]:
    """A job's summary (or a stand-in with its status) and a note on a job that did not complete."""
    summary, problem = read_summary(job_dir)
    if summary is not None:
        note = "" if summary["status"] == "completed" else str(summary.get("error", ""))
        return summary, note
    if problem is not None:
        return {"status": "failed"}, problem
    if not job_dir.is_dir():
        return {"status": "not started"}, "not started"
    if (job_dir / "checkpoints" / "last.ckpt").is_file():
        return {"status": "interrupted"}, "interrupted: has checkpoints/last.ckpt, no summary.json"
    return {"status": "no summary"}, "no summary.json: killed or failed before writing it"


CURVES = ("val/psnr", "val/loss", "train/loss")


def read_curves(job_dir: Path) -> dict[str, list[float]]:
    """val/psnr, val/loss and train/loss by epoch, from what the job's loggers wrote: the CSV
    logger's metrics.csv where there is one, else its TensorBoard dir (none: no curves).

    One value a step, the last logged: a run killed between two checkpoint writes of one epoch
    (best, then last) and resumed from the older last.ckpt logs that epoch again at the same steps,
    and both loggers keep both.
    """
    if (job_dir / "csv" / "metrics.csv").is_file():
        return csv_curves(job_dir / "csv" / "metrics.csv")
    folder = tensorboard_run(job_dir)
    if folder is None:
        return {}
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    tags = set(events.Tags().get("scalars", []))
    curves = {}
    for tag in CURVES:
        if tag in tags:
            by_step = {e.step: e.value for e in events.Scalars(tag)}
            curves[tag] = [by_step[step] for step in sorted(by_step)]
    return curves


def tensorboard_run(run_dir: Path) -> Path | None:
    """The folder of a run's TensorBoard events: ``tensorboard/`` or the one folder below it
    named for the run (``logger.tensorboard.version``); None without events."""
    events = sorted((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    return events[0].parent if events else None


def csv_curves(path: Path) -> dict[str, list[float]]:
    """The curves of Lightning's CSVLogger file: one row per logging call, a column per metric,
    empty where that call did not log it; by step, the last value logged wins."""
    by_step: dict[str, dict[int, float]] = {tag: {} for tag in CURVES}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            for tag in CURVES:
                if row.get(tag):
                    by_step[tag][int(row["step"])] = float(row[tag])
    return {tag: [s[step] for step in sorted(s)] for tag, s in by_step.items() if s}


def read_job(name: str, job_dir: Path, overrides: list[str], swept_keys: list[str]) -> Job:
    """A job from its dir, labelled by its swept values; curves come from its logs."""
    values = pairs(overrides)
    swept = [f"{k}={values[k]}" for k in swept_keys if k in values]
    summary, note = job_status(job_dir)
    value = " ".join(swept) or "(none)"
    return Job(value, values.get("seed", "?"), summary, read_curves(job_dir), name, note)


def job_order(name: str) -> tuple[int, str]:
    """Job dirs in job-number order (2 before 10), other names after."""
    return (int(name), "") if name.isdigit() else (1 << 60, name)


def read_sweep(sweep_dir: Path) -> list[Job]:
    """Every job of a multirun dir: those its multirun.yaml asked for (when it can be read), run
    or not, and every job dir found; the swept keys are those whose value differs, seed aside."""
    expected = sweeps.expected_jobs(sweep_dir) if sweeps.numbered_job_dirs(sweep_dir) else None
    overrides = {str(i): job for i, job in enumerate(expected or [])}
    for marker in ("*/.hydra", "*/summary.json"):
        for path in sweep_dir.glob(marker):
            overrides.setdefault(path.parent.name, [])
    for name in overrides:
        overrides[name] = job_overrides(sweep_dir / name) or overrides[name]
    if not overrides:
        raise RunDirError(f"{sweep_dir}: no job dirs with .hydra/ found; give a multirun dir")
    values: dict[str, set[str]] = defaultdict(set)
    for job in overrides.values():
        for key, value in pairs(job).items():
            values[key].add(value)
    swept = [k for k, v in values.items() if len(v) > 1 and k != "seed"]
    return [
        read_job(name, sweep_dir / name, overrides[name], swept)
        for name in sorted(overrides, key=job_order)
    ]


def numbers(jobs: list[Job], key: str) -> list[float]:
    """The numeric values of a summary key over jobs (a null best_val_psnr is left out)."""
    values = [j.summary.get(key) for j in jobs]
    return [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value, nan for none)."""
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def table_rows(jobs: list[Job]) -> list[dict]:
    """Per swept value: final/best val PSNR, epochs, wall time, Set5 PSNR (mean, std over seeds)."""
    groups: dict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        groups[job.value].append(job)
    rows = []
    for value, members in groups.items():
        done = [j for j in members if j.outcome == "completed"]
        finals = [j.curves["val/psnr"][-1] for j in done if j.curves.get("val/psnr")]
        row = {
            "value": value,
            "seeds": len(members),
            "failed": sum(j.outcome == "failed" for j in members),
            "missing": sum(j.outcome == "missing" for j in members),
        }
        for key, values in (
            ("final_val_psnr", finals),
            ("best_val_psnr", numbers(done, "best_val_psnr")),
            ("epochs", numbers(done, "epochs")),
            ("train_seconds", numbers(done, "train_seconds")),
            ("set5_psnr", numbers(done, "test/Set5_psnr")),
        ):
            row[key], row[f"{key}_std"] = mean_std(values)
        row["best_by_seed"] = {
            j.seed: j.summary["best_val_psnr"] for j in done if numbers([j], "best_val_psnr")
        }
        rows.append(row)
    return rows


def verdict(rows: list[dict], against: Sequence[str] = ()) -> str:
    """Whether the best value (by mean best val PSNR) beats each other by more than the spread;
    for each value named in ``against`` (a candidate recipe, say), also that value against each
    other."""
    ranked = sorted(
        (r for r in rows if not np.isnan(r["best_val_psnr"])),
        key=lambda r: r["best_val_psnr"],
        reverse=True,
    )
    if len(ranked) < 2:
        return "Fewer than two values completed: nothing to compare."
    lines = [f"Best by mean best val PSNR: `{ranked[0]['value']}`.", *compared(ranked[0], ranked)]
    for candidate in against:
        pivot = reference_row(ranked, candidate)
        if pivot is ranked[0]:  # the best already is the candidate: its list is the one above
            lines[0] = f"Best by mean best val PSNR: `{pivot['value']}`, a candidate."
        else:
            lines += ["", f"Against `{pivot['value']}`:", *compared(pivot, ranked)]
    return "\n".join(lines)


def reference_row(rows: list[dict], against: str) -> dict:
    """The completed row whose value is ``against`` (a leading ``+`` optional), or a one-line
    RunDirError listing the values there are."""
    for row in rows:
        if row["value"].lstrip("+") == against.lstrip("+"):
            return row
    values = ", ".join(r["value"] for r in rows)
    raise RunDirError(f"--against {against!r} is no completed value of this sweep ({values})")


def compared(pivot: dict, rows: list[dict]) -> list[str]:
    """A line for ``pivot`` against each other row: the gap of the means, judged against the
    larger seed spread, and the gap seed by seed."""
    lines = []
    for other in (r for r in rows if r is not pivot):
        gap = pivot["best_val_psnr"] - other["best_val_psnr"]
        spread = max(pivot["best_val_psnr_std"], other["best_val_psnr_std"])
        if spread == 0:
            word = "is ahead of" if gap >= 0 else "is behind"
            note = "one seed each: no spread to judge against"
        else:
            word = (
                "beats"
                if gap > spread
                else "trails"
                if gap < -spread
                else "is within the seed spread of"
            )
            note = f"against a seed spread of {spread:.3f} dB"
        lines.append(
            f"- `{pivot['value']}` {word} `{other['value']}`: {gap:+.3f} dB, {note}"
            f"{paired(pivot['best_by_seed'], other['best_by_seed'])}"
        )
    return lines


def paired(best: dict[str, float], other: dict[str, float]) -> str:
    """The gap seed by seed (same seed, same validation split), when two or more seeds pair up."""
    gaps = [best[seed] - other[seed] for seed in best if seed in other]
    if len(gaps) < 2:
        return ""
    mean, std = mean_std(gaps)
    ahead = sum(g > 0 for g in gaps)
    return f"; paired by seed {mean:+.3f} ± {std:.3f} dB, ahead on {ahead} of {len(gaps)} seeds"


def sweep_title(sweep_dir: Path) -> str:
    """The study's name and the command that ran it, from the sweep's multirun.yaml."""
    config_path = sweep_dir / "multirun.yaml"
    if not config_path.exists():
        return sweep_dir.name
    config = yaml.safe_load(config_path.read_text())
    task = config.get("hydra", {}).get("overrides", {}).get("task", [])
    study = config.get("study", sweep_dir.name)
    return f"`{study}`\n\n`python -m espcn_lightning.train -m {' '.join(task)}`"


#: jobs.csv's columns: the job, then what its summary.json says.
JOB_FIELDS = ("value", "seed", "job", "status", "best_val_psnr", "epochs", "train_seconds")


def write_jobs_csv(path: Path, jobs: list[Job]) -> None:
    """Every job as a row (value, seed, dir, status, best val PSNR, epochs, seconds, test PSNRs),
    so that another sweep on the same seeds can be paired with this one job by job."""
    tests = sorted({key for job in jobs for key in job.summary if key.startswith("test/")})
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*JOB_FIELDS, *tests])
        for job in jobs:
            known = {"value": job.value, "seed": job.seed, "job": job.name, "status": job.outcome}
            row = [known.get(key, job.summary.get(key, "")) for key in JOB_FIELDS]
            writer.writerow(row + [job.summary.get(key, "") for key in tests])
