"""The study sweeper (``sweep=optuna``): the space in Hydra's grammar, the study in the sweep dir,
workers that ask for trials, pruning, resuming a killed study, refusing a changed space.

Unit tests drive ``training.study`` with a stand-in for training; the tests marked ``study`` run
real smoke trials through the command line (``make test-study``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

optuna = pytest.importorskip("optuna", reason="the [sweep] extra: pip install -e '.[sweep]'")

from optuna.distributions import (  # noqa: E402
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState  # noqa: E402

from espcn_lightning.core.errors import ConfigError, DataError  # noqa: E402
from espcn_lightning.training.search_space import parse  # noqa: E402
from espcn_lightning.training.study import (  # noqa: E402
    RUN_DIR,
    counted,
    open_study,
    requeue_interrupted,
    trial_config,
    unfinished,
    work,
)
from tests.test_reliability import smoke_sweep_cmd  # noqa: E402

SETTINGS = {
    "study_name": "test",
    "storage": "journal",
    "direction": "maximize",
    "sampler": {"_target_": "optuna.samplers.RandomSampler", "seed": 0},
    "pruner": {
        "_target_": "optuna.pruners.MedianPruner",
        "n_startup_trials": 1,
        "n_warmup_steps": 1,
    },
    "n_trials": 4,
}
SPACE, _ = parse({"optim.optimizer.lr": "tag(log, interval(1e-5, 1e-2))"}, [])


def test_the_space_is_read_from_hydras_sweep_grammar():
    space, fixed = parse(
        {
            "seed": 1,
            "data.batch_size": "choice(4, 8, 16)",
            "optim.scheduler.factor": "interval(0.5, 0.9)",
            "optim.scheduler.threshold": "tag(log, interval(1e-10, 1e-2))",
            "optim.scheduler.patience": "range(1, 9, 2)",
        },
        ["epochs=3"],
    )
    assert fixed == ["seed=1", "epochs=3"]
    assert space == {
        "data.batch_size": CategoricalDistribution([4, 8, 16]),
        "optim.scheduler.factor": FloatDistribution(0.5, 0.9),
        "optim.scheduler.threshold": FloatDistribution(1e-10, 1e-2, log=True),
        "optim.scheduler.patience": IntDistribution(1, 7, step=2),
    }


def test_a_space_with_no_search_dimension_is_refused():
    with pytest.raises(ConfigError, match="no search dimension"):
        parse({"seed": 1}, [])


def test_a_trial_config_sets_its_parameters_and_its_own_run_dir(tmp_path):
    cfg = OmegaConf.create({"optim": {"optimizer": {"lr": 1e-3}}, "paths": {"output_dir": "x"}})
    trial = trial_config(cfg, {"optim.optimizer.lr": 5e-4}, tmp_path / "trials/0003")
    assert trial.optim.optimizer.lr == 5e-4 and trial.paths.output_dir.endswith("trials/0003")
    assert cfg.optim.optimizer.lr == 1e-3  # the job's config is left as it was


def test_a_study_reopened_with_another_space_is_refused_in_one_line(tmp_path):
    open_study(tmp_path, SETTINGS, SPACE)
    other, _ = parse({"optim.optimizer.lr": "interval(1e-5, 1e-2)"}, [])
    with pytest.raises(ConfigError, match="searches another space.*new hydra.sweep.dir"):
        open_study(tmp_path, SETTINGS, other)
    assert open_study(tmp_path, SETTINGS, SPACE).user_attrs["space"]  # the same space reopens


@pytest.mark.parametrize("storage", ["journal", "sqlite"])
def test_the_study_lives_in_the_sweep_dir(tmp_path, storage):
    open_study(tmp_path, {**SETTINGS, "storage": storage}, SPACE)
    assert {p.name for p in tmp_path.iterdir()} & {"study.journal", "study.db"}


def curve(lr: float, epochs: int = 5) -> list[float]:
    """A stand-in training curve: a learning rate near 1e-3 learns, a tiny one stalls."""
    gain = 1.0 if lr > 1e-4 else 0.0
    return [20.0 + gain * epoch for epoch in range(epochs)]


class FakeTrainer:
    """What PruneTrial reads from a Lightning trainer."""

    def __init__(self) -> None:
        self.sanity_checking, self.should_stop, self.current_epoch = False, False, 0
        self.callback_metrics: dict[str, float] = {}
        self.loggers: list = []
        self.global_step = 0


def fake_training(seen: list[tuple[str, dict]]):
    """A train_trial that replays ``curve`` through the pruning callback, as a run would."""

    def train_trial(cfg, overrides, callbacks):
        seen.append((cfg.paths.output_dir, dict(cfg.optim.optimizer)))
        trainer, best = FakeTrainer(), float("-inf")
        for epoch, value in enumerate(curve(cfg.optim.optimizer.lr)):
            trainer.current_epoch, trainer.callback_metrics = epoch, {"val/psnr": value}
            best = max(best, value)
            for callback in callbacks:
                callback.on_validation_end(trainer, None)
            if trainer.should_stop:
                return {"status": "pruned", "best_val_psnr": best, "pruned_at_epoch": epoch}
        return {"status": "completed", "best_val_psnr": best}

    return train_trial


CFG = OmegaConf.create({"optim": {"optimizer": {"lr": 1e-3}}, "paths": {"output_dir": "?"}})


def test_a_stalling_trial_is_pruned_and_recorded_as_pruned(tmp_path):
    study = open_study(tmp_path, SETTINGS, SPACE)
    for lr in (1e-3, 2e-3, 1e-5, 3e-3):
        study.enqueue_trial({"optim.optimizer.lr": lr})
    seen: list[tuple[str, dict]] = []
    assert work(CFG, tmp_path, SETTINGS, fake_training(seen)) == 4
    states = {t.params["optim.optimizer.lr"]: t.state for t in study.get_trials()}
    assert states == {
        1e-3: TrialState.COMPLETE,
        2e-3: TrialState.COMPLETE,
        1e-5: TrialState.PRUNED,
        3e-3: TrialState.COMPLETE,
    }
    pruned = study.get_trials(states=(TrialState.PRUNED,))[0]
    assert max(pruned.intermediate_values) < 4  # stopped early, not after its 5 epochs
    assert [dir_ for dir_, _ in seen] == [str(tmp_path / f"trials/{n:04d}") for n in range(4)]


def test_workers_stop_when_the_study_has_its_trials(tmp_path):
    open_study(tmp_path, SETTINGS, SPACE)
    seen: list[tuple[str, dict]] = []
    work(CFG, tmp_path, SETTINGS, fake_training(seen), worker=0)
    assert work(CFG, tmp_path, SETTINGS, fake_training(seen), worker=1) == 0
    assert counted(open_study(tmp_path, SETTINGS)) == 4 and len(seen) == 4


def test_trials_left_running_by_a_kill_are_failed_and_queued_again_in_their_run_dirs(tmp_path):
    study = open_study(tmp_path, SETTINGS, SPACE)
    done = study.ask(SPACE)
    study.tell(done, 30.0)
    killed = study.ask(SPACE)
    killed.set_user_attr(RUN_DIR, "trials/0001")
    assert requeue_interrupted(study) == [1]
    seen: list[tuple[str, dict]] = []
    work(CFG, tmp_path, SETTINGS, fake_training(seen))
    trials = study.get_trials()
    assert trials[1].state == TrialState.FAIL
    assert trials[2].params == trials[1].params and trials[2].user_attrs[RUN_DIR] == "trials/0001"
    finished = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(finished) == 4 and seen[0][0] == str(tmp_path / "trials/0001")


def missing_data(cfg, overrides, callbacks):
    """A train_trial that meets what every later trial would meet too: no data."""
    raise DataError("data directory data does not exist")


def test_a_user_error_in_a_trial_fails_it_and_ends_the_worker_in_one_line(tmp_path):
    study = open_study(tmp_path, SETTINGS, SPACE)
    with pytest.raises(DataError):
        work(CFG, tmp_path, SETTINGS, missing_data)
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL]


def test_a_study_the_workers_left_short_says_why_and_how_to_continue(tmp_path):
    study = open_study(tmp_path, SETTINGS, SPACE)
    with pytest.raises(DataError):
        work(CFG, tmp_path, SETTINGS, missing_data)
    message = unfinished(study, SETTINGS["n_trials"])
    assert message is not None
    assert "stopped at 0 of 4 trials: data directory data does not exist" in message
    assert "re-run the same command" in message


def test_a_study_with_all_its_trials_is_finished(tmp_path):
    study = open_study(tmp_path, SETTINGS, SPACE)
    work(CFG, tmp_path, SETTINGS, fake_training([]))
    assert unfinished(study, SETTINGS["n_trials"]) is None


def study_cmd(sweep_dir, data_dir, *overrides):
    """A smoke-sized study: 4-epoch trials, a pruner that may stop from the second epoch."""
    return smoke_sweep_cmd(
        sweep_dir,
        data_dir,
        "sweep=optuna",
        "threads=1",
        "trainer.max_epochs=4",
        "~hydra.sweeper.params",
        "+hydra.sweeper.params={seed: 1, optim.optimizer.lr: 'tag(log, interval(1e-9, 1e-2))'}",
        "hydra.sweeper.pruner.n_startup_trials=1",
        "hydra.sweeper.pruner.n_warmup_steps=1",
        *overrides,
    )


CLI_SPACE, _ = parse({"optim.optimizer.lr": "tag(log, interval(1e-9, 1e-2))"}, [])
CLI_SETTINGS = {**SETTINGS, "study_name": "espcn_five"}


def succeeded(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr[-3000:]


def summaries(sweep_dir) -> dict[str, dict]:
    return {
        p.parent.name: json.loads(p.read_text())
        for p in sorted((sweep_dir / "trials").glob("*/summary.json"))
    }


@pytest.mark.study
def test_a_real_study_prunes_a_learning_rate_that_stalls(
    tmp_path, data_dir, root, run, tensorboard_scalars
):
    sweep_dir = tmp_path / "study"
    study = open_study(sweep_dir, CLI_SETTINGS, CLI_SPACE)
    for lr in (1e-3, 2e-3, 1e-9):
        study.enqueue_trial({"optim.optimizer.lr": lr})
    succeeded(run(study_cmd(sweep_dir, data_dir, "hydra.sweeper.n_trials=3")))
    states = [t.state for t in study.get_trials()]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED]
    records = summaries(sweep_dir)
    assert [r["status"] for r in records.values()] == ["completed", "completed", "pruned"]
    assert records["0002"]["pruned_at_epoch"] < 3
    # TensorBoard's HParams shows the pruned trial as pruned, the completed ones with no such mark
    pruned_at = tensorboard_scalars(sweep_dir / "trials/0002", "hp/pruned_at_epoch")
    assert [e.value for e in pruned_at] == [records["0002"]["pruned_at_epoch"]]
    assert tensorboard_scalars(sweep_dir / "trials/0000", "hp/pruned_at_epoch") == []


@pytest.mark.study
def test_two_parallel_workers_share_one_study_without_training_a_trial_twice(
    tmp_path, data_dir, root, run
):
    sweep_dir = tmp_path / "study"
    command = study_cmd(
        sweep_dir,
        data_dir,
        "hydra/launcher=parallel",
        "hydra.sweeper.n_workers=2",
        "hydra.sweeper.n_trials=4",
    )
    succeeded(run(command))
    study = open_study(sweep_dir, CLI_SETTINGS)
    trials = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(trials) >= 4
    dirs = [t.user_attrs[RUN_DIR] for t in trials]
    assert len(set(dirs)) == len(dirs)
    assert len({t.params["optim.optimizer.lr"] for t in trials}) == len(trials)
    logs = [(sweep_dir / f"{n}/train.log").read_text() for n in (0, 1)]
    assert all(f"worker {n}: trial" in log for n, log in enumerate(logs))  # both trained


@pytest.mark.study
def test_a_study_killed_mid_trial_completes_on_rerun_with_no_trial_lost_or_counted_twice(
    tmp_path, data_dir, root, run
):
    sweep_dir = tmp_path / "study"
    command = study_cmd(
        sweep_dir, data_dir, "hydra.sweeper.n_trials=3", "trainer.limit_train_batches=60"
    )
    process = subprocess.Popen(
        command,
        cwd=root,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not list(sweep_dir.glob("trials/0001/checkpoints/*")):
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    study = open_study(sweep_dir, CLI_SETTINGS)
    assert [t.state for t in study.get_trials()][:2] == [TrialState.COMPLETE, TrialState.RUNNING]
    succeeded(run(command))
    trials = study.get_trials()
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 3 and [t.state for t in trials].count(TrialState.FAIL) == 1
    assert trials[2].params == trials[1].params  # the killed trial ran again, in its own dir
    assert set(summaries(sweep_dir)) == {"0000", "0001", "0003"}
    assert summaries(sweep_dir)["0001"].get("resumed_from") == "checkpoints/last.ckpt"


@pytest.mark.study
def test_a_study_whose_trials_cannot_train_ends_in_one_line_with_exit_status_1(tmp_path, root):
    sweep_dir = tmp_path / "study"
    command = study_cmd(sweep_dir, tmp_path / "no-data", "hydra.sweeper.n_trials=2")
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "stopped at 0 of 2 trials" in last and "no-data" in last


@pytest.mark.study
def test_a_changed_space_into_the_same_sweep_dir_is_refused_in_one_line(
    tmp_path, data_dir, root, run
):
    sweep_dir = tmp_path / "study"
    open_study(sweep_dir, CLI_SETTINGS, CLI_SPACE)
    changed = study_cmd(
        sweep_dir,
        data_dir,
    )
    changed[changed.index(next(a for a in changed if a.startswith("+hydra.sweeper.params")))] = (
        "+hydra.sweeper.params={seed: 1, optim.optimizer.lr: 'interval(1e-4, 1e-2)'}"
    )
    result = subprocess.run(changed, cwd=root, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert "searches another space" in result.stderr.strip().splitlines()[-1]
    assert not (sweep_dir / "trials").exists()


def test_optuna_is_current_and_the_old_sweepers_pins_are_gone():
    major = int(optuna.__version__.split(".")[0])
    assert major >= 4
    extras = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert "hydra-optuna-sweeper" not in extras and "sqlalchemy<2" not in extras


def test_the_report_gives_the_command_that_retrains_the_best_trial_over_three_seeds(tmp_path):
    from espcn_lightning.training.study_results import best_lines, trial_rows

    study = open_study(tmp_path, SETTINGS, SPACE)
    for lr, score in ((1e-3, 30.0), (2.345678901234e-4, 31.5)):
        study.enqueue_trial({"optim.optimizer.lr": lr})
        study.tell(study.ask(SPACE), score)
    assert best_lines(trial_rows(study, tmp_path), tmp_path) == [
        "Best: trial 1, 31.500 dB: `optim.optimizer.lr=0.0002345678901234`.",
        "",
    ]  # no recipe saved: the parameters, and no command that might train something else
    saved = {
        "hydra": {
            "overrides": {"task": ["sweep=optuna", "trainer.enable_progress_bar=false"]},
            "sweeper": {"recipe": ["sweep=base"]},
        }
    }
    OmegaConf.save(OmegaConf.create(saved), tmp_path / "multirun.yaml")
    lines = best_lines(trial_rows(study, tmp_path), tmp_path)
    assert lines[0].startswith("Best: trial 1, 31.500 dB")
    assert lines[2].strip() == (
        "python -m espcn_lightning.train -m sweep=base trainer.enable_progress_bar=false "
        "seed=1,2,3 optim.optimizer.lr=0.0002345678901234"
    )


def test_a_study_with_no_completed_trial_has_no_best(tmp_path):
    from espcn_lightning.training.study_results import best_lines, trial_rows

    study = open_study(tmp_path, SETTINGS, SPACE)
    study.tell(study.ask(SPACE), state=TrialState.PRUNED)
    assert best_lines(trial_rows(study, tmp_path), tmp_path) == []


def test_a_trials_budget_is_the_sweeps_max_epochs_as_resolved(tmp_path):
    from espcn_lightning.training.study_results import trial_budget

    (tmp_path / "multirun.yaml").write_text("epochs: 300\ntrainer:\n  max_epochs: ${epochs}\n")
    assert trial_budget(tmp_path, []) == 300


def test_without_its_config_a_trials_budget_is_the_most_any_trial_trained(tmp_path):
    from espcn_lightning.training.study_results import trial_budget, trial_rows

    study = open_study(tmp_path, SETTINGS, SPACE)
    trial = study.ask(SPACE)
    for epoch in range(7):
        trial.report(30.0, epoch)
    study.tell(trial, 30.0)
    assert trial_budget(tmp_path, trial_rows(study, tmp_path)) == 7


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_the_per_epoch_figure_shows_the_race_not_the_first_epochs_dips(tmp_path):
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as plots

    from espcn_lightning.report import focus_on_the_race

    study = open_study(tmp_path, SETTINGS, SPACE)
    for offset in range(4):
        trial = study.ask(SPACE)
        for epoch in range(40):
            trial.report(5.0 if epoch == 0 else 31.0 + offset * 0.1 + epoch * 0.01, epoch)
        study.tell(trial, 32.0)
    ax = plots.plot_intermediate_values(study)
    focus_on_the_race(ax, study)
    low, high = ax.get_ylim()
    assert 30.0 < low < 31.1 and high > 31.69 and ax.get_legend() is None
    plt.close(ax.figure)


def test_trials_of_a_study_are_queued_into_a_new_one_to_run_them_to_the_end(tmp_path):
    from scripts.requeue_trials import SOURCE_TRIAL, main

    source, target = tmp_path / "search", tmp_path / "unpruned"
    study = open_study(source, SETTINGS, SPACE)
    for lr in (1e-3, 2e-3, 3e-3):
        study.enqueue_trial({"optim.optimizer.lr": lr})
        study.tell(study.ask(SPACE), state=TrialState.PRUNED)
    assert main([str(source), str(target), "2", "0"]) == 0
    queued = open_study(target, SETTINGS).get_trials()
    assert [t.state for t in queued] == [TrialState.WAITING] * 2
    assert [(t.system_attrs["fixed_params"], t.user_attrs[SOURCE_TRIAL]) for t in queued] == [
        ({"optim.optimizer.lr": 3e-3}, 2),
        ({"optim.optimizer.lr": 1e-3}, 0),
    ]
    assert main([str(source), str(target), "1"]) == 1  # a study there already: refused
    assert main([str(source), str(tmp_path / "other"), "7"]) == 1  # no such trial
    assert len(open_study(target, SETTINGS).get_trials()) == 2


def test_rank_agreement_tells_when_early_epochs_stop_predicting_the_winner(tmp_path):
    from scripts.rank_agreement import agreement, ranks

    assert ranks(np.array([3.0, 1.0, 1.0, 2.0])).tolist() == [3.0, 0.5, 0.5, 2.0]
    study = open_study(tmp_path, SETTINGS, SPACE)
    for i in range(10):  # early leaders finish last: the curves cross between epochs 10 and 100
        trial = study.ask(SPACE)
        trial.report(30.0 - i, 10)
        trial.report(30.0 + i, 100)
        study.tell(trial, 30.0 + i)
    rows = {r["epoch"]: r for r in agreement(study.get_trials(), epochs=(10, 50, 100))}
    assert set(rows) == {10, 100}  # epoch 50 was not reported by every trial: left out
    assert rows[10]["rho"] == pytest.approx(-1.0) and rows[10]["top5_below_median"] == 5
    assert rows[100]["rho"] == pytest.approx(1.0) and rows[100]["top5_below_median"] == 0
