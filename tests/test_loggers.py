"""Loggers as config groups: CSV, MLflow (against a real tracking server on loopback) and W&B
(offline), alone or several at once; each gets the hyperparameters and per-epoch metrics, and the
sweep report reads a CSV-only sweep as it reads a TensorBoard one."""

import json
import shutil
import socket
import subprocess
import sys
import time

import pytest
import requests
from test_reliability import smoke_sweep_cmd, train_cmd

from espcn_lightning.training.sweep_results import read_curves, read_sweep, table_rows


def test_a_csv_only_run_logs_metrics_and_hyperparameters(tmp_path, data_dir, run):
    run_dir = tmp_path / "run"
    result = run(train_cmd(run_dir, data_dir, "logger=csv", "trainer.max_epochs=3"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (run_dir / "tensorboard").exists()
    curves = read_curves(run_dir)
    assert len(curves["val/psnr"]) == 3 and len(curves["train/loss"]) == 3
    assert "data/batch_size" in (run_dir / "csv" / "hparams.yaml").read_text()


def test_several_loggers_at_once_each_get_the_run(tmp_path, data_dir, run):
    run_dir = tmp_path / "run"
    result = run(train_cmd(run_dir, data_dir, "logger=[tensorboard,csv]"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert list((run_dir / "tensorboard").rglob("events.out.tfevents.*"))
    assert (run_dir / "csv" / "metrics.csv").is_file()


@pytest.mark.slow  # two sweeps (45 s): make test-full, to keep make test under 10 minutes
def test_the_report_reads_a_csv_only_sweep_as_it_reads_a_tensorboard_one(tmp_path, data_dir, run):
    tables = []
    for logger in ("tensorboard", "csv"):
        sweep = tmp_path / logger
        command = smoke_sweep_cmd(sweep, data_dir, f"logger={logger}", "data.batch_size=8,16")
        assert run(command).returncode == 0
        rows = table_rows(read_sweep(sweep))
        tables.append([{k: v for k, v in r.items() if "seconds" not in k} for r in rows])
    assert json.dumps(rounded(tables[0])) == json.dumps(rounded(tables[1]))


def rounded(value):
    """Numbers to 5 decimals (TensorBoard keeps float32, the CSV file the logged float)."""
    if isinstance(value, float):
        return round(value, 5)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


@pytest.fixture
def mlflow_server(tmp_path):
    """A real MLflow tracking server (SQLite store, artifacts in a folder) on a loopback port,
    stopped at the end."""
    if shutil.which("mlflow", path=str(sys.prefix) + "/bin") is None:
        pytest.skip("mlflow is not installed (pip install mlflow)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [
            f"{sys.prefix}/bin/mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'mlflow.db'}",
            "--default-artifact-root",
            str(tmp_path / "artifacts"),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=2).ok:
                break
        except requests.RequestException:
            time.sleep(1)
    else:
        server.kill()
        pytest.fail("the MLflow server did not start in 120 s")
    yield url
    server.terminate()
    server.wait(timeout=30)


def test_mlflow_gets_params_metrics_per_epoch_and_the_weights(
    tmp_path, data_dir, run, mlflow_server
):
    from mlflow.tracking import MlflowClient

    run_dir = tmp_path / "run"
    result = run(
        train_cmd(
            run_dir,
            data_dir,
            "logger=mlflow",
            f"logger.mlflow.tracking_uri={mlflow_server}",
            "trainer.max_epochs=3",
            "seed=5",
        )
    )
    assert result.returncode == 0, result.stderr[-3000:]
    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("espcn-train")
    (found,) = client.search_runs([experiment.experiment_id])
    assert found.data.params["data/batch_size"] == "16"
    assert (
        found.info.run_name
        == "experiment=smoke seed=5 trainer.limit_val_batches=1"  # the budget is not the run
    )
    assert len(client.get_metric_history(found.info.run_id, "val/psnr")) == 3
    artifacts = {a.path for a in client.list_artifacts(found.info.run_id)}
    assert {"model.pt", "model.json"} <= artifacts


def test_an_unreachable_tracking_server_ends_in_one_line_before_training(tmp_path, data_dir, run):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    refused = run(
        train_cmd(tmp_path / "run", data_dir, "logger=mlflow", f"logger.mlflow.tracking_uri={uri}")
    )
    assert refused.returncode == 1
    assert (
        f"error: logger.mlflow.tracking_uri={uri}: no MLflow server answers there" in refused.stderr
    )
    assert "Traceback" not in refused.stderr and not (tmp_path / "run" / "checkpoints").exists()


def test_wandb_offline_keeps_the_run_and_its_metrics_beside_it(tmp_path, data_dir, run):
    pytest.importorskip("wandb")
    run_dir = tmp_path / "run"
    result = run(train_cmd(run_dir, data_dir, "logger=wandb", "logger.wandb.offline=true"))
    assert result.returncode == 0, result.stderr[-3000:]
    (records,) = (run_dir / "wandb").glob("offline-run-*/run-*.wandb")
    data = records.read_bytes()  # wandb's own record file, what `wandb sync` uploads
    assert b"val/psnr" in data and b"train/loss" in data and b"data/batch_size" in data
