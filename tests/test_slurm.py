"""Sweeps and DDP on a real one-node SLURM cluster (marker ``slurm``; ``make test-slurm``): jobs
completed through ``hydra/launcher=slurm`` with their runs and reports, preemption and timeouts
requeued and resumed, re-runs that submit only what is not completed, each job on the CPUs it was
granted, and DDP over two tasks under srun."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from slurm_cluster import Cluster, missing
from test_reliability import smoke_sweep_cmd, train_cmd

pytestmark = pytest.mark.slurm


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The test cluster, started once for the module (skipped with the reason where it cannot
    be, unless ESPCN_REQUIRE_SLURM is set: then that is a failure)."""
    reason = missing()
    if reason is not None:
        if os.environ.get("ESPCN_REQUIRE_SLURM"):
            pytest.fail(reason)
        pytest.skip(reason)
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="pip install .[sweep]")
    running = Cluster(tmp_path_factory.mktemp("slurm"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture
def launched(cluster):
    """Start sweep launchers in the background; any still running at the end is killed (a failed
    test leaves no launcher waiting on a cluster that is gone)."""
    processes: list[subprocess.Popen] = []

    def start(command: list[str], **options) -> subprocess.Popen:
        processes.append(subprocess.Popen(command, env=cluster.env, **options))
        return processes[-1]

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def sweep_cmd(sweep_dir: Path, data_dir: Path, *overrides: str) -> list[str]:
    """A smoke sweep on the cluster, one CPU a job, as a user would type it."""
    return smoke_sweep_cmd(
        sweep_dir,
        data_dir,
        "hydra/launcher=slurm",
        "hydra.launcher.gpus_per_node=0",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=1",
        "hydra.launcher.timeout_min=10",
        *overrides,
    )


def submitted(sweep_dir: Path) -> int:
    """How many array tasks submitit has submitted into this sweep dir (one folder each)."""
    folder = sweep_dir / ".submitit"
    tasks = (
        [p for p in folder.iterdir() if re.fullmatch(r"\d+_\d+", p.name)] if folder.is_dir() else []
    )
    return len(tasks)


def summary(job_dir: Path) -> dict:
    return json.loads((job_dir / "summary.json").read_text())


def launch(cluster, command, timeout=600) -> subprocess.CompletedProcess:
    result = subprocess.run(
        command, env=cluster.env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def restarts(cluster, job_id: str) -> int:
    """How many times SLURM has requeued this job (its own count: earlier tests' jobs, kept in
    the controller for minutes, have theirs)."""
    shown = cluster.run("scontrol", "show", "job", job_id).stdout
    found = re.search(r"Restarts=(\d+)", shown)
    return int(found.group(1)) if found else 0


def release_requeued(cluster, job_id: str) -> bool:
    """SLURM holds a requeued job about two minutes (its begin time): start it now, with no time
    limit (any limit warns a resumed run again, signal_delay_s before it, and a slow machine whose
    epochs outlast it is requeued again). True once the job runs again (or has ended)."""
    queue = cluster.run("squeue", "-h", "-j", job_id, "-o", "%T %r").stdout.split()
    if queue[:2] == ["PENDING", "BeginTime"]:
        cluster.run("scontrol", "update", f"JobId={job_id}", "StartTime=now", "TimeLimit=UNLIMITED")
    return not queue or queue[0] == "RUNNING"


def cluster_state(cluster, sweep_dir: Path) -> str:
    """What a failed cluster test needs: the jobs as SLURM sees them and the end of each job's
    submitit log."""
    logs = sorted((sweep_dir / ".submitit").rglob("*_log.*"))
    tails = "".join(f"--- {log.name}\n{log.read_text()[-1500:]}\n" for log in logs)
    return cluster.run("scontrol", "show", "job").stdout + tails


def test_a_sweep_of_four_jobs_completes_on_its_cpus_reports_and_is_never_submitted_twice(
    cluster, data_dir, tmp_path
):
    sweep_dir = tmp_path / "sweep"
    command = sweep_cmd(sweep_dir, data_dir, "seed=1,2", "data.batch_size=8,16")
    first = launch(cluster, command)
    assert "accounting is off" in first.stdout + first.stderr
    assert first.stderr.count("Slurm accounting storage is disabled") == 0
    assert submitted(sweep_dir) == 4
    for number in range(4):
        job = sweep_dir / str(number)
        assert summary(job)["status"] == "completed"
        assert summary(job)["threads"] == 1  # cpus_per_task, not the node's 2 cores
        assert list((job / "tensorboard").rglob("events.out.tfevents.*"))
    report = subprocess.run(
        [sys.executable, "-m", "espcn_lightning.report", str(sweep_dir)],
        capture_output=True,
        text=True,
    )
    assert report.returncode == 0 and (sweep_dir / "report.html").is_file()
    again = launch(cluster, command)
    assert submitted(sweep_dir) == 4
    assert (again.stdout + again.stderr).count("completed before: skipped") == 4


def test_a_killed_sweep_rerun_submits_only_the_jobs_not_completed(
    cluster, launched, data_dir, tmp_path
):
    sweep_dir = tmp_path / "sweep"
    command = sweep_cmd(
        sweep_dir,
        data_dir,
        "seed=1,2,3",
        "trainer.max_epochs=6",
        "hydra.launcher.array_parallelism=1",
    )
    launcher = launched(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: (sweep_dir / "0" / "summary.json").is_file(), 300, "the first job")
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    cluster.run("scancel", "--full", "--user=root")  # the cluster drops the rest with the sweep
    wait_for(lambda: not cluster.jobs(), 60, "the cancelled jobs to leave the queue")
    before = submitted(sweep_dir)
    done = [n for n in range(3) if (sweep_dir / str(n) / "summary.json").is_file()]
    done = [n for n in done if summary(sweep_dir / str(n))["status"] == "completed"]
    launch(cluster, command)
    assert submitted(sweep_dir) - before == 3 - len(done)
    assert all(summary(sweep_dir / str(n))["status"] == "completed" for n in range(3))


@pytest.mark.parametrize("how", ["preempted", "timed out"])
def test_a_job_preempted_or_out_of_time_is_requeued_and_resumes_from_its_checkpoint(
    cluster, launched, data_dir, tmp_path, how
):
    sweep_dir = tmp_path / "sweep"
    # Timed out: warned 100 s before a 2-minute limit, so about 20 s in (SLURM checks limits
    # every 30 s), long before the 200 epochs end.
    limit = (
        ["hydra.launcher.timeout_min=2", "hydra.launcher.signal_delay_s=100"]
        if how == "timed out"
        else []
    )
    command = sweep_cmd(sweep_dir, data_dir, "seed=1", "trainer.max_epochs=200", *limit)
    launcher = launched(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    job = sweep_dir / "0"
    wait_for(lambda: (job / "checkpoints" / "last.ckpt").is_file(), 300, "a first checkpoint")
    (job_id,) = (d.name for d in (sweep_dir / ".submitit").iterdir() if d.is_dir())
    if how == "preempted":
        cluster.run("scancel", "--signal=USR2", job_id)
    wait_for(lambda: restarts(cluster, job_id) == 1, 180, "a requeue")
    wait_for(lambda: release_requeued(cluster, job_id), 60, "the requeued job to start")
    try:
        _, errors = launcher.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"the sweep did not end:\n{cluster_state(cluster, sweep_dir)}"
        ) from None
    assert launcher.returncode == 0, errors[-3000:]
    assert restarts(cluster, job_id) == 1
    outcome = summary(job)
    assert outcome["status"] == "completed" and outcome["epochs"] == 200
    assert outcome["resumed_from"] == "checkpoints/last.ckpt"


def test_ddp_over_two_tasks_under_srun_matches_ddp_on_two_local_processes(
    cluster, data_dir, tmp_path
):
    ddp = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.max_epochs=2"]
    sweep_dir = tmp_path / "sweep"
    launch(
        cluster, sweep_cmd(sweep_dir, data_dir, "seed=3", *ddp, "hydra.launcher.tasks_per_node=2")
    )
    job = sweep_dir / "0"
    assert len(list((job / "tensorboard").rglob("events.out.tfevents.*"))) == 1
    local_dir = tmp_path / "local"
    local = subprocess.run(
        train_cmd(local_dir, data_dir, "seed=3", *ddp), capture_output=True, text=True, timeout=600
    )
    assert local.returncode == 0, local.stderr[-3000:]
    assert summary(job)["best_val_psnr"] == pytest.approx(
        summary(local_dir)["best_val_psnr"], abs=0.01
    )


def test_a_study_runs_its_workers_as_cluster_jobs_that_share_one_study(cluster, data_dir, tmp_path):
    """sweep=optuna under the SLURM launcher: two workers, each an array task on one CPU, ask the
    study in the sweep dir for trials until it has four, none trained twice."""
    from optuna.trial import TrialState

    from espcn_lightning.training.study import RUN_DIR, open_study

    sweep_dir = tmp_path / "study"
    launch(
        cluster,
        sweep_cmd(
            sweep_dir,
            data_dir,
            "sweep=optuna",
            "trainer.max_epochs=2",
            "hydra.sweeper.n_trials=4",
            "hydra.sweeper.n_workers=2",
        ),
    )
    assert submitted(sweep_dir) == 2
    study = open_study(sweep_dir, {"study_name": "espcn_five", "storage": "journal"})
    trials = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(trials) >= 4
    dirs = [t.user_attrs[RUN_DIR] for t in trials]
    assert len(set(dirs)) == len(dirs)
    assert all(summary(sweep_dir / d)["status"] in ("completed", "pruned") for d in dirs)
