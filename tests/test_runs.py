"""A run dir's life cycle: never rewritten by another run, locked while in use, resumed only as the
same run, and whole after a kill at any point."""

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
from omegaconf import OmegaConf
from test_reliability import train_cmd

from espcn_lightning.core.errors import RunDirError
from espcn_lightning.inference.pretrained import load_model
from espcn_lightning.training.checkpoints import epochs_done
from espcn_lightning.training.identity import identity_changes
from espcn_lightning.training.locks import DirLock
from espcn_lightning.training.runs import FRESH, RESUME, Run, RunState, plan
from espcn_lightning.training.sweep_results import read_curves


def snapshot(directory):
    """Every path under a dir (and the dir itself) with its mtime, size and content hash."""
    paths = [directory, *sorted(directory.rglob("*"))]
    return {
        str(path.relative_to(directory)): (
            path.stat().st_mtime_ns,
            path.stat().st_size,
            hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None,
        )
        for path in paths
    }


def error_lines(result):
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_dir, run):
    """A completed smoke run (ReLU, x3, 2 epochs) to be refused or resumed."""
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    result = run(train_cmd(run_dir, data_dir))
    assert result.returncode == 0, result.stderr[-2000:]
    return run_dir


def copy_run(source, target):
    """A copy of a run dir, for tests that must find it unchanged (a copy is never resumed:
    Lightning's checkpoint callback treats a moved run's checkpoints as another run's)."""
    subprocess.run(["cp", "-a", str(source), str(target)], check=True)
    return target


def test_a_refused_run_leaves_the_original_runs_records_untouched(trained, tmp_path, data_dir, run):
    run_dir = copy_run(trained, tmp_path / "run")
    before = snapshot(run_dir)
    result = run(train_cmd(run_dir, data_dir, "seed=3"))
    assert result.returncode == 1
    assert error_lines(result) == [
        f"error: {run_dir} already holds a run (completed); pass ckpt_path=last to continue it, "
        "or choose a new hydra.run.dir"
    ]
    assert snapshot(run_dir) == before
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    assert "seed=3" not in (run_dir / ".hydra" / "overrides.yaml").read_text()


@pytest.mark.parametrize(
    ("change", "named"),
    [("model.activation=tanh", "model.activation relu -> tanh"), ("scale=4", "scale 3 -> 4")],
)
def test_a_resume_with_another_model_or_scale_is_refused_in_one_line(
    trained, tmp_path, data_dir, change, named, run
):
    run_dir = copy_run(trained, tmp_path / "run")
    before = snapshot(run_dir)
    result = run(train_cmd(run_dir, data_dir, "ckpt_path=last", change))
    assert result.returncode == 1, result.stderr[-2000:]
    (line,) = error_lines(result)
    assert line.startswith(f"error: ckpt_path=last: this config changes the run in {run_dir}")
    assert named in line and "a resume keeps its scale, seed, model, data" in line
    assert "Traceback" not in result.stderr
    assert snapshot(run_dir) == before


@pytest.mark.slow  # make test-full: keeps make test under 10 minutes
def test_a_resume_may_change_the_training_budget(tmp_path, data_dir, run, tensorboard_scalars):
    run_dir = tmp_path / "run"
    assert run(train_cmd(run_dir, data_dir)).returncode == 0
    result = run(train_cmd(run_dir, data_dir, "ckpt_path=last", "trainer.max_epochs=3"))
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs"] == 3
    assert summary["resumed_from"] == "checkpoints/last.ckpt"
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 2
    steps = [e.step for e in tensorboard_scalars(run_dir, "val/psnr")]
    assert steps == sorted(set(steps)) and len(steps) == 3
    shorter = run(train_cmd(run_dir, data_dir, "ckpt_path=last", "trainer.max_epochs=1"))
    assert shorter.returncode == 1
    assert error_lines(shorter) == [
        "error: ckpt_path=last: that checkpoint has trained 3 epochs already, more than "
        "trainer.max_epochs=1; give trainer.max_epochs=3 or more"
    ]


def test_identity_changes_name_the_model_data_and_scale_but_not_the_trainer(tmp_path, train_config):
    base = train_config(tmp_path)
    same = train_config(
        tmp_path, ["trainer.max_epochs=7", "paths.data_dir=/elsewhere", "data.num_workers=2"]
    )
    assert identity_changes(base, same) == []
    other = train_config(tmp_path, ["model.activation=tanh", "data.stride=14", "scale=4"])
    assert identity_changes(base, other) == [
        "data.stride 7 -> 14",
        "model.activation relu -> tanh",
        "scale 3 -> 4",
    ]


def test_a_sweep_job_resumes_only_the_same_job(tmp_path, train_config):
    cfg = train_config(tmp_path, ["seed=1"])
    job = tmp_path / "0"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("- seed=1\n")
    assert plan(RunState.read(job), cfg, ["seed=1"], multirun=True) == FRESH
    (job / "checkpoints").mkdir()
    (job / "checkpoints" / "last.ckpt").write_bytes(b"x")
    assert plan(RunState.read(job), cfg, ["seed=1"], multirun=True) == RESUME
    with pytest.raises(RunDirError, match="holds another job .seed=1.; a changed sweep"):
        plan(RunState.read(job), cfg, ["seed=2"], multirun=True)


def test_a_run_killed_before_its_first_checkpoint_restarts_only_as_the_same_run(
    tmp_path, train_config
):
    cfg = train_config(tmp_path)
    (tmp_path / ".hydra").mkdir()
    OmegaConf.save(cfg, tmp_path / ".hydra" / "config.yaml")
    assert plan(RunState.read(tmp_path), cfg, [], multirun=False) == FRESH
    other = train_config(tmp_path, ["model.activation=tanh"])
    with pytest.raises(RunDirError, match="model.activation relu -> tanh"):
        plan(RunState.read(tmp_path), other, ["model.activation=tanh"], multirun=False)


def test_a_run_that_raises_is_marked_failed_and_unlocked(tmp_path, train_config):
    cfg = train_config(tmp_path)
    with (
        pytest.raises(RuntimeError, match="bug"),
        Run(tmp_path, cfg, FRESH, DirLock.acquire(tmp_path, "hydra.run.dir")),
    ):
        raise RuntimeError("bug")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary == {"status": "failed", "error": "RuntimeError: bug"}
    assert not (tmp_path / ".lock").exists()


def test_a_live_lock_is_refused_naming_its_holder_and_released_on_exit(tmp_path):
    lock = DirLock.acquire(tmp_path, "hydra.run.dir")
    with pytest.raises(RunDirError, match=f"in use by process {os.getpid()} on "):
        DirLock.acquire(tmp_path, "hydra.run.dir")
    assert DirLock.holder(tmp_path).startswith(f"process {os.getpid()}")
    lock.release()
    assert not (tmp_path / ".lock").exists() and DirLock.holder(tmp_path) is None
    DirLock.acquire(tmp_path, "hydra.run.dir").release()


def test_a_lock_left_by_a_killed_process_is_stale_and_taken_over(tmp_path, run):
    code = (
        "import os, signal, sys; from pathlib import Path; "
        "from espcn_lightning.training.locks import DirLock; "
        "DirLock.acquire(Path(sys.argv[1]), 'x'); "
        "print(os.getpid(), flush=True); os.kill(os.getpid(), signal.SIGKILL)"
    )
    killed = run([sys.executable, "-c", code, str(tmp_path)])
    assert killed.returncode == -signal.SIGKILL
    dead = killed.stdout.split()[0]
    assert (tmp_path / ".lock").exists() and DirLock.holder(tmp_path) is None
    lock = DirLock.acquire(tmp_path, "hydra.run.dir")
    assert lock.stale.startswith(f"process {dead} on ")
    lock.release()


def start(root, cmd):
    return subprocess.Popen(
        cmd, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def wait_for(condition, process, seconds=240):
    deadline = time.time() + seconds
    while time.time() < deadline and process.poll() is None and not condition():
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before the test could act on it"


@pytest.mark.slow  # make test-full: keeps make test under 10 minutes
def test_a_second_run_into_a_dir_in_use_is_refused_and_a_killed_runs_lock_is_stale(
    tmp_path, data_dir, root, run
):
    run_dir = tmp_path / "run"
    long = ["trainer.max_epochs=100", "trainer.limit_train_batches=100", "data.stride=14"]
    first = start(root, train_cmd(run_dir, data_dir, *long))
    try:
        wait_for(lambda: (run_dir / ".hydra" / "config.yaml").exists(), first)
        second = run(train_cmd(run_dir, data_dir, *long))
        assert first.poll() is None
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    assert second.returncode == 1
    (line,) = error_lines(second)
    assert line.startswith(f"error: {run_dir} is in use by process {first.pid} on ")
    assert line.endswith("; wait for it to finish, or choose another hydra.run.dir")
    assert not (run_dir / "summary.json").exists()
    last = run_dir / "checkpoints" / "last.ckpt"
    budget = f"trainer.max_epochs={epochs_done(last) + 1 if last.exists() else 1}"
    third = run(train_cmd(run_dir, data_dir, *long, "ckpt_path=last", budget))
    assert third.returncode == 0, third.stderr[-2000:]
    assert f"took over the stale lock of process {first.pid} " in third.stdout
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    assert not (run_dir / ".lock").exists()


def assert_whole(run_dir):
    """Whatever a run dir holds can be read: summary, checkpoints, weights; no scratch files."""
    if (run_dir / "summary.json").exists():
        assert json.loads((run_dir / "summary.json").read_text())["status"]
    for path in (run_dir / "checkpoints").glob("*.ckpt"):
        torch.load(path, weights_only=True)
    if (run_dir / "model.pt").exists():
        torch.load(run_dir / "model.pt", weights_only=True)
    if (run_dir / "model.json").exists():
        json.loads((run_dir / "model.json").read_text())


@pytest.mark.slow
def test_training_killed_at_random_points_reruns_to_a_whole_run(
    tmp_path, data_dir, root, run, tensorboard_scalars
):
    budget = ["trainer.max_epochs=3", "data.stride=14"]
    started = time.perf_counter()
    reference = run(train_cmd(tmp_path / "reference", data_dir, *budget))
    assert reference.returncode == 0, reference.stderr[-2000:]
    whole = time.perf_counter() - started
    rng = random.Random(14)
    seen = set()
    for attempt in range(8):
        run_dir = tmp_path / f"run{attempt}"
        for _ in range(2):
            resume = ["ckpt_path=last"] if (run_dir / "checkpoints" / "last.ckpt").exists() else []
            process = start(root, train_cmd(run_dir, data_dir, *budget, *resume))
            time.sleep(rng.uniform(0.5, whole * 1.1))
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            assert_whole(run_dir)
            seen.add(kill_point(run_dir))
        result = run(train_cmd(run_dir, data_dir, *budget, "ckpt_path=last"))
        assert result.returncode == 0, result.stderr[-2000:]
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["epochs"] == 3
        assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 2
        best = load_model(summary["best_checkpoint"]).state_dict()
        exported = load_model(run_dir / "model.pt").state_dict()
        assert all(torch.equal(best[k], exported[k]) for k in best)
        assert len({e.step for e in tensorboard_scalars(run_dir, "val/psnr")}) == 3
        assert len(read_curves(run_dir)["val/psnr"]) == 3
        leftovers = [p.name for p in run_dir.rglob(".*") if p.name not in (".hydra",)]
        assert leftovers == []
    assert {"before the first checkpoint", "mid-training"} <= seen, seen


def kill_point(run_dir):
    """Where a kill left a run: before its first checkpoint, mid-training, or finished."""
    if (run_dir / "summary.json").exists():
        return "finished"
    if (run_dir / "checkpoints" / "last.ckpt").exists():
        return "mid-training"
    return "before the first checkpoint"
