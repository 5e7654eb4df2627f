"""Hydra multirun sweeps: each job logs to its own TensorBoard run, failures stay contained, a
killed sweep resumes, and the report lists what did not complete."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from test_runs import snapshot

from espcn_lightning.core.errors import RunDirError
from espcn_lightning.report import main as report_main
from espcn_lightning.training.locks import DirLock
from espcn_lightning.training.sweep_results import Job, table_rows, verdict

STUDIES = ["base", "batch_size", "threshold", "decay", "patience", "split"]


@pytest.mark.parametrize("sweep", STUDIES)
def test_every_sweep_composes_with_the_seed_study_defaults(train_config, sweep):
    cfg = train_config(overrides=[f"sweep={sweep}"], hydra=True)
    params = cfg.hydra.sweeper.params
    assert params.seed == "1,2,3"
    assert cfg.data.batch_size == 16 and cfg.data.val_fraction == 0.2
    assert cfg.optim.scheduler.factor == 0.5 and cfg.optim.scheduler.patience == 2


def test_a_multirun_logs_each_job_and_survives_a_failing_one(
    tmp_path, data_dir, root, tensorboard_scalars
):
    sweep_dir = tmp_path / "sweep"
    result = subprocess.run(
        smoke_sweep(
            sweep_dir,
            data_dir,
            "data.batch_size=16,8",
            "optim.optimizer.lr=0.01,inf",
            "trainer.limit_train_batches=3",
        ),
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    statuses = {}
    for job in sorted(sweep_dir.glob("[0-9]*")):
        summary = json.loads((job / "summary.json").read_text())
        overrides = (job / ".hydra" / "overrides.yaml").read_text()
        statuses[overrides] = summary["status"]
        if summary["status"] == "completed":
            assert tensorboard_scalars(job, "val/psnr")
    assert len(statuses) == 4
    assert sorted(statuses.values()) == ["completed", "completed", "failed", "failed"]
    assert all(("inf" in o) == (s == "failed") for o, s in statuses.items())
    assert report_main([str(sweep_dir)]) == 0
    report = (sweep_dir / "report.md").read_text()
    assert "data.batch_size=16" in report and "data.batch_size=8" in report
    assert (sweep_dir / "val_psnr.png").stat().st_size > 0
    assert (sweep_dir / "report.csv").read_text().count("\n") == 5
    with (sweep_dir / "jobs.csv").open() as handle:
        by_job = {row["job"]: row for row in csv.DictReader(handle)}
    assert len(by_job) == 4
    for job, row in by_job.items():
        assert (
            row["status"] == statuses[(sweep_dir / job / ".hydra" / "overrides.yaml").read_text()]
        )
        assert (row["best_val_psnr"] != "") == (row["status"] == "completed")
    page = (sweep_dir / "report.html").read_text()
    assert "data.batch_size=16" in page and "data.batch_size=8" in page and "<table>" in page
    assert 'src="val_psnr.png"' in page and 'src="loss.png"' in page


def completed_job(value: str, seed: str, psnr: float) -> Job:
    """A completed job of ``value`` and ``seed`` whose best (and only) val PSNR is ``psnr``."""
    return Job(
        value,
        seed,
        {"status": "completed", "best_val_psnr": psnr, "epochs": 3, "train_seconds": 1.0},
        {"val/psnr": [psnr]},
    )


def test_the_verdict_compares_values_seed_by_seed():
    jobs = [completed_job("a", s, 30.0 + int(s)) for s in ("1", "2", "3")]
    jobs += [completed_job("b", s, 29.9 + int(s)) for s in ("1", "2", "3")]
    text = verdict(table_rows(jobs))
    assert "`a` is within the seed spread of `b`" in text
    assert "paired by seed +0.100 ± 0.000 dB, ahead on 3 of 3 seeds" in text


def test_a_candidate_is_compared_with_every_other_value_when_named():
    base = [31.6, 32.0, 31.8]
    jobs = [completed_job("+winners=none", str(s), v) for s, v in enumerate(base, 1)]
    jobs += [completed_job("+winners=decay", str(s), v + 0.2) for s, v in enumerate(base, 1)]
    jobs += [completed_job("+winners=combined", str(s), v - 0.1) for s, v in enumerate(base, 1)]
    text = verdict(table_rows(jobs), against=["winners=combined"])
    assert text.startswith("Best by mean best val PSNR: `+winners=decay`.")
    against = text.split("Against `+winners=combined`:")[1]
    assert "`+winners=combined` is within the seed spread of `+winners=none`: -0.100 dB" in against
    assert "paired by seed -0.100 ± 0.000 dB, ahead on 0 of 3 seeds" in against
    assert "`+winners=combined` trails `+winners=decay`: -0.300 dB" in against
    with pytest.raises(RunDirError, match="--against 'patience'.*winners=none"):
        verdict(table_rows(jobs), against=["patience"])


def test_a_candidate_that_is_the_best_is_compared_once():
    jobs = [completed_job("+winners=none", s, 31.0 + int(s)) for s in ("1", "2", "3")]
    jobs += [completed_job("+winners=joint", s, 31.2 + int(s)) for s in ("1", "2", "3")]
    jobs += [completed_job("+winners=combined", s, 30.9 + int(s)) for s in ("1", "2", "3")]
    text = verdict(table_rows(jobs), against=["+winners=combined", "+winners=joint"])
    assert text.startswith("Best by mean best val PSNR: `+winners=joint`, a candidate.")
    assert text.count("Against") == 1 and "Against `+winners=combined`:" in text
    assert text.count("`+winners=joint` is within the seed spread of `+winners=none`") == 1


def smoke_sweep(sweep_dir, data_dir, *overrides):
    """A smoke multirun of the batch-size study into ``sweep_dir``, with ``overrides``."""
    return [
        sys.executable,
        "-m",
        "espcn_lightning.train",
        "-m",
        "sweep=batch_size",
        "experiment=smoke",
        f"paths.data_dir={data_dir}",
        f"hydra.sweep.dir={sweep_dir}",
        "seed=1",
        *overrides,
        "trainer.limit_val_batches=1",
        "trainer.enable_progress_bar=false",
        "report_sets=[]",
    ]


def sweep_cmd(sweep_dir, data_dir, *extra):
    """Three 4-epoch jobs: long enough to be killed mid-way."""
    return smoke_sweep(
        sweep_dir,
        data_dir,
        "data.batch_size=32,16,8",
        "trainer.max_epochs=4",
        "trainer.limit_train_batches=60",
        "image_every_n_epochs=0",
        *extra,
    )


def test_a_killed_sweep_rerun_with_the_same_command_skips_finished_jobs_and_resumes_the_rest(
    tmp_path, data_dir, root, tensorboard_scalars
):
    sweep_dir = tmp_path / "sweep"
    process = subprocess.Popen(
        sweep_cmd(sweep_dir, data_dir),
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    last = sweep_dir / "1" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 400
    while time.time() < deadline and process.poll() is None and not last.exists():
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert last.exists() and not (sweep_dir / "1" / "summary.json").exists(), "not killed mid-job"
    killed_at = torch.load(last, weights_only=True)["epoch"]
    assert json.loads((sweep_dir / "0" / "summary.json").read_text())["status"] == "completed"
    assert not (sweep_dir / "2").exists()

    assert report_main([str(sweep_dir), "--out", str(tmp_path / "partial")]) == 0
    partial = (tmp_path / "partial" / "report.md").read_text()
    assert "## Jobs not completed (2 of 3)" in partial
    assert "- `1` (data.batch_size=16, seed 1): missing: interrupted" in partial
    assert "- `2` (data.batch_size=8, seed 1): missing: not started" in partial

    finished = snapshot(sweep_dir / "0")
    rerun = subprocess.run(
        sweep_cmd(sweep_dir, data_dir), cwd=root, capture_output=True, text=True, timeout=600
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "#0 : seed=1 data.batch_size=32" in rerun.stdout
    assert "(completed before: skipped)" in rerun.stdout
    assert f"#1 resumes from {last}" in rerun.stdout
    assert snapshot(sweep_dir / "0") == finished
    for job in ("1", "2"):
        summary = json.loads((sweep_dir / job / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["epochs"] == 4
        assert len({e.step for e in tensorboard_scalars(sweep_dir / job, "val/psnr")}) == 4
    resumed = json.loads((sweep_dir / "1" / "summary.json").read_text())
    assert resumed["resumed_from"] == "checkpoints/last.ckpt" and killed_at < 3
    assert "resumed_from" not in json.loads((sweep_dir / "2" / "summary.json").read_text())
    assert len(list((sweep_dir / "1" / "tensorboard").rglob("events.out.tfevents.*"))) == 2
    # TensorBoard lists the job by what it varies, the resumed half in the same run
    named = {p.parent.name for p in (sweep_dir / "1" / "tensorboard").rglob("events.out.*")}
    assert len(named) == 1 and "data.batch_size=16" in named.pop().split(" ")
    assert len(list((sweep_dir / "2" / "tensorboard").rglob("events.out.tfevents.*"))) == 1

    everything = snapshot(sweep_dir)
    changed = subprocess.run(
        sweep_cmd(sweep_dir, data_dir, "optim.optimizer.lr=0.01"),
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert changed.returncode == 1
    command = " ".join(a for a in sweep_cmd(sweep_dir, data_dir)[4:] if not a.startswith("hydra."))
    assert changed.stderr.strip().splitlines() == [
        f"error: {sweep_dir} holds the sweep run with `-m {command}`; "
        "this command line differs (+optim.optimizer.lr=0.01) and would be another sweep: rerun "
        "that exact command to resume it, or choose a new hydra.sweep.dir"
    ]
    assert snapshot(sweep_dir) == everything


@pytest.mark.slow  # make test-full: keeps make test under 10 minutes
def test_a_sweep_reuses_the_completed_jobs_of_another_sweep_that_ran_the_same_config(
    tmp_path, data_dir, root
):
    first, second = tmp_path / "first", tmp_path / "second"
    short = ("trainer.max_epochs=1", "trainer.limit_train_batches=4", "image_every_n_epochs=0")
    ran = subprocess.run(
        smoke_sweep(first, data_dir, "data.batch_size=32,16", *short),
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    before = snapshot(first)
    command = smoke_sweep(
        second,
        data_dir,
        "data.batch_size=8,16,4",
        "study=other",
        *short,
        "hydra/launcher=parallel",
        f"hydra.launcher.reuse_from=[{first}]",
    )
    reused = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300)
    assert reused.returncode == 0, reused.stderr[-3000:]
    assert "#1 : seed=1 data.batch_size=16 sweep=batch_size" in reused.stdout
    assert f"(reused from {(first / '1').resolve()})" in reused.stdout
    assert "Joblib.Parallel(n_jobs=2): 2 jobs" in reused.stdout, "one call for jobs 0 and 2"
    assert snapshot(first) == before
    summary = json.loads((second / "1" / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["reused_from"] == str((first / "1").resolve())
    copied = second / "1" / "checkpoints" / "last.ckpt"
    assert copied.read_bytes() == (first / "1" / "checkpoints" / "last.ckpt").read_bytes()
    assert "study: other" in (second / "1" / ".hydra" / "config.yaml").read_text()
    for job, batch in (("0", 8), ("2", 4)):
        trained = json.loads((second / job / "summary.json").read_text())
        assert trained["status"] == "completed" and "reused_from" not in trained
        overrides = (second / job / ".hydra" / "overrides.yaml").read_text()
        assert f"data.batch_size={batch}" in overrides

    again = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("(completed before: skipped)") == 3
    assert report_main([str(second), "--out", str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert "## Jobs shared with another sweep (1 of 3)" in report
    assert "- `1` (data.batch_size=16, seed 1): from `first/1`" in report


def test_a_second_sweep_into_a_sweep_dir_in_use_is_refused(tmp_path, data_dir, root):
    sweep_dir = tmp_path / "sweep"
    lock = DirLock.acquire(sweep_dir, "hydra.sweep.dir")
    try:
        result = subprocess.run(
            sweep_cmd(sweep_dir, data_dir), cwd=root, capture_output=True, text=True, timeout=300
        )
    finally:
        lock.release()
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {sweep_dir} is in use by process {os.getpid()} on ")
    assert sorted(p.name for p in sweep_dir.iterdir()) == []


def write_job(sweep_dir, name, overrides, summary=None):
    job = sweep_dir / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if summary is not None:
        (job / "summary.json").write_text(summary)


def test_the_report_lists_failed_and_missing_jobs_instead_of_crashing(tmp_path):
    done = {"status": "completed", "best_val_psnr": 30.0, "epochs": 2, "train_seconds": 1.0}
    write_job(tmp_path, "0", ["seed=1", "data.batch_size=16"], json.dumps(done))
    write_job(tmp_path, "1", ["seed=1", "data.batch_size=8"])
    no_epochs = {**done, "best_val_psnr": None, "epochs": 0}
    write_job(tmp_path, "2", ["seed=2", "data.batch_size=16"], json.dumps(no_epochs))
    write_job(tmp_path, "3", ["seed=2", "data.batch_size=8"], '{"status": "compl')
    assert report_main([str(tmp_path)]) == 0
    report = (tmp_path / "report.md").read_text()
    assert "## Jobs not completed (2 of 4)" in report
    assert "- `1` (data.batch_size=8, seed 1): missing: no summary.json" in report
    assert "- `3` (data.batch_size=8, seed 2): failed: " in report and "unreadable" in report
    assert "<h2>Jobs not completed (2 of 4)</h2>" in (tmp_path / "report.html").read_text()
    with (tmp_path / "report.csv").open() as handle:
        rows = {row["value"]: row for row in csv.DictReader(handle)}
    assert rows["data.batch_size=16"]["best_val_psnr"] == "30.0"
    assert (rows["data.batch_size=8"]["failed"], rows["data.batch_size=8"]["missing"]) == ("1", "1")
