"""Hydra multirun sweeps: each job logs to its own TensorBoard run, failures stay contained."""

import json
import subprocess
import sys

import pytest

from espcn_lightning.report import Job, table_rows, verdict
from espcn_lightning.report import main as report_main

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
        [
            sys.executable,
            "-m",
            "espcn_lightning.train",
            "-m",
            "sweep=batch_size",
            "experiment=smoke",
            f"paths.data_dir={data_dir}",
            f"hydra.sweep.dir={sweep_dir}",
            "seed=1",
            "data.batch_size=16,8",
            "optim.optimizer.lr=0.01,inf",
            "trainer.limit_train_batches=3",
            "trainer.limit_val_batches=1",
            "trainer.enable_progress_bar=false",
            "report_sets=[]",
        ],
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
    page = (sweep_dir / "report.html").read_text()
    assert "data.batch_size=16" in page and "data.batch_size=8" in page and "<table>" in page
    assert 'src="val_psnr.png"' in page and 'src="loss.png"' in page


def test_the_verdict_compares_values_seed_by_seed():
    def job(value, seed, psnr):
        return Job(
            value,
            seed,
            {"status": "completed", "best_val_psnr": psnr, "epochs": 3, "train_seconds": 1.0},
            {"val/psnr": [psnr]},
        )

    jobs = [job("a", s, 30.0 + int(s)) for s in ("1", "2", "3")]
    jobs += [job("b", s, 29.9 + int(s)) for s in ("1", "2", "3")]
    text = verdict(table_rows(jobs))
    assert "`a` is within the seed spread of `b`" in text
    assert "paired by seed +0.100 ± 0.000 dB, ahead on 3 of 3 seeds" in text
