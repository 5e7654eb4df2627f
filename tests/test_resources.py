"""Each parallel job gets its share of the cores; training precision follows the hardware."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from espcn_lightning.core.hardware import (
    THREAD_VARIABLES,
    cpu_cores,
    limit_threads,
    native_bf16,
    thread_share,
    training_precision,
)

ROOT = Path(__file__).resolve().parents[1]


def test_a_job_among_n_gets_its_share_of_the_cores_and_at_least_one():
    assert thread_share(1, cores=16) == 16
    assert thread_share(4, cores=16) == 4
    assert thread_share(3, cores=16) == 5
    assert thread_share(4, cores=2) == 1
    with pytest.raises(ValueError, match="n_jobs=0"):
        thread_share(0)


def test_limiting_threads_sets_torch_and_the_variables_child_processes_read(monkeypatch):
    before = torch.get_num_threads()
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="threads=0"):
        limit_threads(0)
    try:
        limit_threads(1)
        assert torch.get_num_threads() == 1
        assert all(os.environ[name] == "1" for name in THREAD_VARIABLES)
    finally:
        torch.set_num_threads(before)


def test_auto_precision_is_bf16_mixed_only_where_the_cpu_has_bf16():
    assert training_precision("auto", "cpu") == ("bf16-mixed" if native_bf16() else "32-true")
    assert training_precision("32-true", "cpu") == "32-true"


@pytest.mark.slow  # make test-full: keeps make test under 10 minutes
def test_parallel_jobs_each_train_on_their_share_of_the_threads(tmp_path, data_dir):
    """joblib would hand its workers the parent's OMP_NUM_THREADS (here twice the cores), which
    oversubscribes the cores; each job must cut itself to its share."""
    pytest.importorskip("hydra_plugins.hydra_joblib_launcher", reason="pip install -e .[sweep]")
    oversubscribed = {name: str(2 * cpu_cores()) for name in THREAD_VARIABLES}
    sweep_dir = tmp_path / "sweep"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "espcn_lightning.train",
            "-m",
            "hydra/launcher=parallel",
            "experiment=smoke",
            "seed=1,2",
            f"paths.data_dir={data_dir}",
            f"hydra.sweep.dir={sweep_dir}",
            "trainer.limit_train_batches=2",
            "trainer.limit_val_batches=1",
            "trainer.enable_progress_bar=false",
            "report_sets=[]",
            "export_weights=false",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | oversubscribed,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summaries = [json.loads(p.read_text()) for p in sorted(sweep_dir.glob("*/summary.json"))]
    assert len(summaries) == 2
    assert [s["threads"] for s in summaries] == [thread_share(2, cpu_cores())] * 2
