"""Summarise a Hydra multirun sweep: ``python -m espcn_lightning.report MULTIRUN_DIR``.

Reads each job's overrides, summary.json and logged curves; writes report.md, report.csv,
val_psnr.png, loss.png and report.html (all of it on one page) into the sweep dir (or --out).
Values are grouped over seeds. For a study (``sweep=optuna``) it writes study.md, study.html and
Optuna's own figures instead: every trial, best first, pruned ones as pruned, and what pruning
saved.
"""

from __future__ import annotations

import argparse
import csv
import html
import re
import sys
import warnings
from collections import defaultdict
from collections.abc import Sequence
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING

try:
    import matplotlib
except ImportError as missing:  # an optional extra: training and evaluation never import this
    raise SystemExit(
        "error: the sweep report draws with matplotlib: pip install 'espcn-lightning[report]'"
    ) from missing

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from espcn_lightning.core.errors import one_line_errors  # noqa: E402
from espcn_lightning.evaluation.page import page_html  # noqa: E402
from espcn_lightning.training.sweep_results import (  # noqa: E402
    Job,
    read_sweep,
    sweep_title,
    table_rows,
    verdict,
    write_jobs_csv,
)
from espcn_lightning.training.sweeps import study_storage  # noqa: E402


def write_markdown(
    path: Path, rows: list[dict], title: str, jobs: list[Job], against: Sequence[str] = ()
) -> None:
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
            verdict(rows, against),
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


def write_html(
    path: Path, rows: list[dict], title: str, jobs: list[Job], against: Sequence[str] = ()
) -> None:
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
    judged = verdict_html(verdict(rows, against).splitlines())
    study, _, command = title.partition("\n\n")
    body = (
        f"<header><h1>Sweep {inline_html(study)}</h1><p>{inline_html(command)}</p></header><main>"
        '<div class="scroll"><table><thead><tr>'
        f"{''.join(f'<th>{h}</th>' for h in head)}</tr></thead>"
        f"<tbody>{table}</tbody></table></div>"
        f"{judged}"
        "<p>Mean ± sample std over seeds; PSNR in dB on the validation split (Set5: the selected "
        'model, reported only). The table as CSV: <a href="report.csv">report.csv</a>.</p>'
        '<h2>Validation PSNR</h2><img class="figure" src="val_psnr.png" alt="validation PSNR">'
        '<h2>Loss</h2><img class="figure" src="loss.png" alt="training and validation loss">'
        f"{section_html(unfinished(jobs))}{section_html(reused(jobs))}</main>"
    )
    path.write_text(page_html(f"Sweep {study.strip('`')}", body))


def verdict_html(lines: list[str]) -> str:
    """The verdict's Markdown (a sentence, then its "- " comparisons; blank lines between
    parts) as HTML paragraphs and lists."""
    parts = []
    for key, group in groupby((line for line in lines if line), key=lambda text: text[:2] == "- "):
        texts = [inline_html(line[2:] if key else line) for line in group]
        parts.append(
            "<ul>" + "".join(f"<li>{t}</li>" for t in texts) + "</ul>"
            if key
            else "".join(f"<p>{t}</p>" for t in texts)
        )
    return "".join(parts)


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


if TYPE_CHECKING:
    from espcn_lightning.training.study_results import TrialRow


def study_markdown(study, rows: list[TrialRow], budget: int, sweep_dir: Path) -> str:
    """study.md: the counts, wall time and epochs pruning saved, then every trial, best first."""
    from espcn_lightning.training.study_results import best_lines, epochs_saved, wall_seconds

    states = [r.state for r in rows]
    trained, saved = epochs_saved(rows, budget)
    head = "| trial | state | best val PSNR | epochs | seconds | parameters | run dir |"
    lines = [
        f"# Study `{study.study_name}` ({sweep_dir.name})",
        "",
        f"{states.count('complete')} completed, {states.count('pruned')} pruned, "
        f"{states.count('running')} running; wall time {wall_seconds(study) / 60:.1f} min; "
        f"{trained} epochs trained, {saved} spared by pruning (of {budget} a trial).",
        "",
        *best_lines(rows, sweep_dir),
        head,
        "|---:|---|---:|---:|---:|---|---|",
    ]
    for r in rows:
        value = f"{r.value:.3f}" if r.value is not None else "—"
        state = f"pruned after epoch {r.pruned_at}" if r.pruned_at is not None else r.state
        params = " ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.params.items()
        )
        seconds = f"{r.seconds:.0f}" if r.seconds is not None else ""
        cells = [str(r.number), state, value, str(r.epochs), seconds, f"`{params}`", r.run_dir]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join([*lines, ""])


#: Optuna's own figures of a study, by file name.
STUDY_FIGURES = {
    "history.png": ("Optimisation history", "plot_optimization_history"),
    "importances.png": ("Parameter importances", "plot_param_importances"),
    "intermediate.png": (
        "Validation PSNR by epoch, pruned trials included",
        "plot_intermediate_values",
    ),
}


def focus_on_the_race(ax, study) -> None:
    """The per-epoch curves without their legend (a line a trial) and with the y axis from the
    5th percentile of the values up, so that the first epochs' dips do not flatten the race."""
    values = [v for t in study.get_trials(deepcopy=False) for v in t.intermediate_values.values()]
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    if values:
        ax.set_ylim(float(np.percentile(values, 5)), max(values) + 0.05)


def write_study_figures(out_dir: Path, study) -> list[str]:
    """Optuna's visualisation figures of the study as PNGs; the names of those it could draw
    (importances need two completed trials)."""
    import optuna.visualization.matplotlib as plots
    from optuna.exceptions import ExperimentalWarning

    drawn = []
    for name, (_, function) in STUDY_FIGURES.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                ax = getattr(plots, function)(study)
        except (ValueError, RuntimeError):
            continue
        figure = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        if name == "intermediate.png":
            focus_on_the_race(ax, study)
        figure.set_size_inches(7.5, 4.5)
        figure.tight_layout()
        figure.savefig(out_dir / name, dpi=110)
        plt.close(figure)
        drawn.append(name)
    return drawn


def write_study_report(sweep_dir: Path, out: Path) -> str:
    """study.md, the figures and study.html (all on one page) for the study in ``sweep_dir``."""
    from espcn_lightning.training.study_results import (  # the [sweep] extra
        load_study,
        trial_budget,
        trial_rows,
    )

    study = load_study(sweep_dir)
    rows = trial_rows(study, sweep_dir)
    budget = trial_budget(sweep_dir, rows)
    text = study_markdown(study, rows, budget, sweep_dir)
    (out / "study.md").write_text(text)
    drawn = write_study_figures(out, study)
    lines = text.splitlines()
    table = [line for line in lines if line.startswith("| ") and not line.startswith("| trial")]
    cells = "".join(
        "<tr>"
        + "".join(f"<td>{inline_html(c.strip())}</td>" for c in line.strip("|").split(" | "))
        + "</tr>"
        for line in table
    )
    heads = "".join(f"<th>{h.strip()}</th>" for h in lines[4].strip("|").split(" | "))
    figures = "".join(
        f"<h2>{title}</h2>" + f'<img class="figure" src="{name}" alt="{title}">'
        for name, title in ((name, STUDY_FIGURES[name][0]) for name in drawn)
    )
    body = (
        f"<header><h1>{inline_html(lines[0][2:])}</h1><p>{inline_html(lines[2])}</p></header>"
        f'<main><div class="scroll"><table id="trials"><thead><tr>{heads}</tr></thead>'
        f"<tbody>{cells}</tbody></table></div>{figures}</main>"
    )
    (out / "study.html").write_text(page_html(f"Study {study.study_name}", body))
    return text


AGAINST_HELP = "also compare this value with every other, e.g. +winners=combined (repeatable)"


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    """Command line: read a multirun dir, write the report beside it (or into --out)."""
    parser = argparse.ArgumentParser(prog="python -m espcn_lightning.report", description=__doc__)
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="default: the sweep dir")
    parser.add_argument("--against", action="append", default=[], help=AGAINST_HELP)
    args = parser.parse_args(argv)
    out = args.out or args.sweep_dir
    if study_storage(args.sweep_dir) is not None:  # Optuna (the [sweep] extra) needed only then
        out.mkdir(parents=True, exist_ok=True)
        print(write_study_report(args.sweep_dir, out))
        return 0
    jobs = read_sweep(args.sweep_dir)  # before the out dir is made: a wrong dir makes nothing
    out.mkdir(parents=True, exist_ok=True)
    rows = table_rows(jobs)
    write_markdown(out / "report.md", rows, sweep_title(args.sweep_dir), jobs, args.against)
    write_csv(out / "report.csv", rows)
    write_jobs_csv(out / "jobs.csv", jobs)
    write_figures(out, jobs)
    write_html(out / "report.html", rows, sweep_title(args.sweep_dir), jobs, args.against)
    print((out / "report.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
