"""Summarise a Hydra multirun sweep: ``python -m espcn_lightning.report MULTIRUN_DIR``.

Reads each job's overrides, summary.json and TensorBoard events; writes report.md, report.csv,
val_psnr.png, loss.png and report.html (all of it on one page) into the sweep dir (or --out).
Values are grouped over seeds.
"""

from __future__ import annotations

import argparse
import csv
import html
import re
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

try:
    import matplotlib
except ImportError as missing:  # an optional extra: training and evaluation never import this
    raise SystemExit(
        "error: the sweep report draws with matplotlib: pip install -e '.[report]'"
    ) from missing

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from espcn_lightning import sweeps  # noqa: E402
from espcn_lightning.results_page import page_html  # noqa: E402
from espcn_lightning.runs import read_summary  # noqa: E402


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


def read_curves(job_dir: Path) -> dict[str, list[float]]:
    """val/psnr, val/loss and train/loss by epoch from the job's TensorBoard dir (if it has one).

    One value a step, the last logged: a run killed between two checkpoint writes of one epoch
    (best, then last) and resumed from the older last.ckpt logs that epoch again at the same steps,
    and TensorBoard keeps both.
    """
    if not (job_dir / "tensorboard").is_dir():
        return {}
    events = EventAccumulator(str(job_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    tags = set(events.Tags().get("scalars", []))
    curves = {}
    for tag in ("val/psnr", "val/loss", "train/loss"):
        if tag in tags:
            by_step = {e.step: e.value for e in events.Scalars(tag)}
            curves[tag] = [by_step[step] for step in sorted(by_step)]
    return curves


def read_job(name: str, job_dir: Path, overrides: list[str], swept_keys: list[str]) -> Job:
    """A job from its dir, labelled by its swept values; curves come from TensorBoard."""
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
        raise FileNotFoundError(f"{sweep_dir}: no job dirs with .hydra/ found; give a multirun dir")
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


def verdict(rows: list[dict]) -> str:
    """Whether the best value (by mean best val PSNR) beats each other by more than the spread."""
    ranked = sorted(
        (r for r in rows if not np.isnan(r["best_val_psnr"])),
        key=lambda r: r["best_val_psnr"],
        reverse=True,
    )
    if len(ranked) < 2:
        return "Fewer than two values completed: nothing to compare."
    best, lines = ranked[0], []
    for other in ranked[1:]:
        gap = best["best_val_psnr"] - other["best_val_psnr"]
        spread = max(best["best_val_psnr_std"], other["best_val_psnr_std"])
        if spread == 0:
            word, note = "is ahead of", "one seed each: no spread to judge against"
        else:
            word = "beats" if gap > spread else "is within the seed spread of"
            note = f"against a seed spread of {spread:.3f} dB"
        lines.append(
            f"- `{best['value']}` {word} `{other['value']}`: +{gap:.3f} dB, {note}"
            f"{paired(best['best_by_seed'], other['best_by_seed'])}"
        )
    return "\n".join([f"Best by mean best val PSNR: `{best['value']}`.", *lines])


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


def write_markdown(path: Path, rows: list[dict], title: str, jobs: list[Job]) -> None:
    """The Markdown table and verdict, then the jobs that did not complete."""
    head = (
        "| value | seeds | failed | missing | final val PSNR | best val PSNR | epochs | seconds "
        "| Set5 PSNR |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [
        f"| `{r['value']}` | {r['seeds']} | {r['failed']} | {r['missing']} | "
        f"{r['final_val_psnr']:.3f} ± {r['final_val_psnr_std']:.3f} | "
        f"{r['best_val_psnr']:.3f} ± {r['best_val_psnr_std']:.3f} | {r['epochs']:.0f} | "
        f"{r['train_seconds']:.0f} | {r['set5_psnr']:.3f} ± {r['set5_psnr_std']:.3f} |"
        for r in rows
    ]
    text = "\n".join(
        [
            f"# Sweep {title}",
            "",
            head,
            *lines,
            "",
            verdict(rows),
            "",
            "Mean ± sample std over seeds; PSNR in dB on the validation split "
            "(Set5: the selected model, reported only). The seed also draws the validation "
            "split, so the spread over seeds includes the split's own variation; the paired "
            "gap compares values on the same seed and split.",
            "",
            *unfinished(jobs),
            *reused(jobs),
        ]
    )
    path.write_text(text)


def reused(jobs: list[Job]) -> list[str]:
    """Markdown lines naming the jobs copied from another sweep that ran the same config
    (``hydra.launcher.reuse_from``), so a reader knows which runs two studies share."""
    shared = [j for j in jobs if j.summary.get("reused_from")]
    if not shared:
        return []
    return [
        f"## Jobs shared with another sweep ({len(shared)} of {len(jobs)})",
        "",
        "Trained once, by the sweep named, with exactly this config (the study's name aside):",
        "",
        *(f"- `{j.name}` ({j.value}, seed {j.seed}): from `{source(j)}`" for j in shared),
        "",
    ]


def source(job: Job) -> str:
    """Where a reused job was trained: its sweep dir's name and job dir."""
    path = Path(job.summary["reused_from"])
    return f"{path.parent.name}/{path.name}"


def unfinished(jobs: list[Job]) -> list[str]:
    """Markdown lines listing the jobs that failed or are missing, and how to finish them."""
    left = [j for j in jobs if j.outcome != "completed"]
    if not left:
        return []
    return [
        f"## Jobs not completed ({len(left)} of {len(jobs)})",
        "",
        *(f"- `{j.name}` ({j.value}, seed {j.seed}): {j.outcome}: {j.note}" for j in left),
        "",
        "Run the sweep's command again with the same `hydra.sweep.dir` to finish them: "
        "completed jobs are skipped, interrupted ones resume from their last checkpoint.",
        "",
    ]


def inline_html(text: str) -> str:
    """Markdown's inline code spans as HTML, the rest escaped."""
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", html.escape(text, quote=False))


def write_html(path: Path, rows: list[dict], title: str, jobs: list[Job]) -> None:
    """report.html: the title and command, the table, the verdict, both figures and the jobs that
    did not complete, on one page."""
    head = [
        "value",
        "seeds",
        "failed",
        "missing",
        "final val PSNR",
        "best val PSNR",
        "epochs",
        "seconds",
        "Set5 PSNR",
    ]
    cells = [
        [
            f"<code>{html.escape(r['value'])}</code>",
            str(r["seeds"]),
            str(r["failed"]),
            str(r["missing"]),
            f"{r['final_val_psnr']:.3f} ± {r['final_val_psnr_std']:.3f}",
            f"{r['best_val_psnr']:.3f} ± {r['best_val_psnr_std']:.3f}",
            f"{r['epochs']:.0f}",
            f"{r['train_seconds']:.0f}",
            f"{r['set5_psnr']:.3f} ± {r['set5_psnr_std']:.3f}",
        ]
        for r in rows
    ]
    table = "".join(f"<tr>{''.join(f'<td>{c}</td>' for c in row)}</tr>" for row in cells)
    lines = verdict(rows).splitlines()
    items = "".join(f"<li>{inline_html(line[2:])}</li>" for line in lines[1:])
    study, _, command = title.partition("\n\n")
    body = (
        f"<header><h1>Sweep {inline_html(study)}</h1><p>{inline_html(command)}</p></header><main>"
        '<div class="scroll"><table><thead><tr>'
        f"{''.join(f'<th>{h}</th>' for h in head)}</tr></thead>"
        f"<tbody>{table}</tbody></table></div>"
        f"<p>{inline_html(lines[0])}</p><ul>{items}</ul>"
        "<p>Mean ± sample std over seeds; PSNR in dB on the validation split (Set5: the selected "
        'model, reported only). The table as CSV: <a href="report.csv">report.csv</a>.</p>'
        '<h2>Validation PSNR</h2><img class="figure" src="val_psnr.png" alt="validation PSNR">'
        '<h2>Loss</h2><img class="figure" src="loss.png" alt="training and validation loss">'
        f"{section_html(unfinished(jobs))}{section_html(reused(jobs))}</main>"
    )
    path.write_text(page_html(f"Sweep {study.strip('`')}", body))


def section_html(lines: list[str]) -> str:
    """A Markdown section of ours (a "## " heading, paragraphs, a "- " list) as HTML, in order;
    empty for no lines."""
    if not lines:
        return ""
    parts = [f"<h2>{html.escape(lines[0][3:])}</h2>"]
    items = [f"<li>{inline_html(line[2:])}</li>" for line in lines if line.startswith("- ")]
    for line in lines[1:]:
        if line.startswith("- ") and items:
            parts.append(f"<ul>{''.join(items)}</ul>")
            items = []
        elif line and not line.startswith("- "):
            parts.append(f"<p>{inline_html(line)}</p>")
    return "".join(parts)


def write_csv(path: Path, rows: list[dict]) -> None:
    """The table as CSV, one row per swept value."""
    with path.open("w", newline="") as handle:
        fields = [k for k in rows[0] if k != "best_by_seed"]
        writer = csv.DictWriter(handle, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def plot_band(ax, curves: list[list[float]], label: str) -> None:
    """Mean curve with a +-1 std band over seeds, cut to the shortest run."""
    length = min(len(c) for c in curves)
    stack = np.array([c[:length] for c in curves])
    mean, std = stack.mean(0), stack.std(0)
    epochs = np.arange(1, length + 1)
    ax.plot(epochs, mean, label=label)
    ax.fill_between(epochs, mean - std, mean + std, alpha=0.25)


def write_figures(out_dir: Path, jobs: list[Job]) -> None:
    """val_psnr.png (val PSNR by epoch per value) and loss.png (train/val loss, log scale)."""
    groups: dict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        if job.curves.get("val/psnr"):
            groups[job.value].append(job)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for value, members in groups.items():
        plot_band(ax, [j.curves["val/psnr"] for j in members], value)
    ax.set(xlabel="epoch", ylabel="val PSNR (dB)", title="Validation PSNR (mean ± std over seeds)")
    if groups:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "val_psnr.png", dpi=110)
    plt.close(fig)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for ax, tag in zip(axes, ("train/loss", "val/loss"), strict=True):
        for value, members in groups.items():
            curves = [j.curves[tag] for j in members if j.curves.get(tag)]
            if curves:
                plot_band(ax, curves, value)
        ax.set(xlabel="epoch", ylabel="MSE", yscale="log", title=tag)
    if groups:
        axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "loss.png", dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Command line: read a multirun dir, write the report beside it (or into --out)."""
    parser = argparse.ArgumentParser(prog="python -m espcn_lightning.report", description=__doc__)
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="default: the sweep dir")
    args = parser.parse_args(argv)
    try:
        jobs = read_sweep(args.sweep_dir)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    out = args.out or args.sweep_dir
    out.mkdir(parents=True, exist_ok=True)
    rows = table_rows(jobs)
    write_markdown(out / "report.md", rows, sweep_title(args.sweep_dir), jobs)
    write_csv(out / "report.csv", rows)
    write_figures(out, jobs)
    write_html(out / "report.html", rows, sweep_title(args.sweep_dir), jobs)
    print((out / "report.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
