"""What a hostile, careless or unlucky user does, and what they get: records never rewritten by a
run that trained nothing, pictures read as a viewer shows them, options refused before a run dir
is claimed, one line for every write that fails (no space, read-only, name too long), and advice
that leads somewhere."""

import errno
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image
from test_reliability import train_cmd
from test_runs import snapshot

from espcn_lightning.core.errors import ImageReadError, OutputError, WeightsError
from espcn_lightning.core.files import atomic_output
from espcn_lightning.core.images import read_image
from espcn_lightning.datasets.catalogue import dataset_files
from espcn_lightning.export import main as export_main
from espcn_lightning.training.checkpoints import check_checkpoint
from espcn_lightning.training.runs import FRESH, RunState, plan
from espcn_lightning.training.sweeps import expected_jobs
from espcn_lightning.upscale import main as upscale_main


def one_line(result: subprocess.CompletedProcess) -> str:
    """The one error line a refused command printed, with no traceback (Lightning's progress
    notes may stand beside it)."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 1, result.stderr[-2000:]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr[-2000:]
    return errors[0]


# Records and results


@pytest.mark.slow  # make test-full: keeps make test under 10 minutes
def test_resuming_a_completed_run_with_the_same_budget_rewrites_nothing(tmp_path, data_dir, run):
    run_dir = tmp_path / "run"
    assert run(train_cmd(run_dir, data_dir)).returncode == 0
    before = snapshot(run_dir)
    again = run(train_cmd(run_dir, data_dir, "ckpt_path=last"))
    assert again.returncode == 0, again.stderr[-2000:]
    assert "nothing to train and nothing rewritten" in again.stdout
    assert snapshot(run_dir) == before


def test_a_phone_photo_is_read_upright_by_its_exif_orientation(tmp_path):
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = 255  # left half white as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: a viewer turns it 90 degrees clockwise
    Image.fromarray(pixels).save(tmp_path / "phone.jpg", exif=exif, quality=100)
    image = read_image(tmp_path / "phone.jpg")
    assert image.shape == (40, 20, 3)
    assert image[:15].mean() > 200 and image[25:].mean() < 50  # white now on top


@pytest.mark.parametrize("peak", [1.0, 255.0])
def test_a_float_image_is_read_by_its_range(tmp_path, peak):
    values = np.linspace(0, peak, 64, dtype=np.float32).reshape(8, 8)
    Image.fromarray(values, mode="F").save(tmp_path / "float.tif")
    image = read_image(tmp_path / "float.tif")
    assert image.dtype == np.uint8 and image.min() == 0 and image.max() == 255


def test_a_float_image_outside_both_ranges_is_refused_by_name(tmp_path):
    Image.fromarray(np.full((8, 8), 1000.0, np.float32), mode="F").save(tmp_path / "hdr.tif")
    with pytest.raises(ImageReadError, match=r"hdr.tif: float samples outside 0..1 and 0..255"):
        read_image(tmp_path / "hdr.tif")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.max_epochs=-1", "trainer.max_epochs=-1 would train without end"),
        ("seed=abc", "seed=abc: use a whole number"),
        ("optim.optimizer.lr=-1", "optim.optimizer.lr=-1: use a number above 0"),
        ("data.batch_size=0", "data.batch_size=0: use a whole number of at least 1"),
    ],
)
def test_an_option_that_cannot_train_is_refused_before_the_run_dir_is_claimed(
    tmp_path, run, override, message
):
    run_dir = tmp_path / "run"
    refused = run(train_cmd(run_dir, tmp_path / "no-data", override))
    assert message in one_line(refused)
    assert not (run_dir / "summary.json").exists() and not (run_dir / ".hydra").exists()


def test_a_dir_left_by_a_run_that_failed_before_its_first_checkpoint_can_be_used_again(
    tmp_path, train_config
):
    (tmp_path / "summary.json").write_text('{"status": "failed", "error": "data missing"}')
    old = train_config(tmp_path, ["data.batch_size=0"])
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(old))
    new = train_config(tmp_path, ["data.batch_size=8"])
    assert plan(RunState.read(tmp_path), new, [], multirun=False) == FRESH


# Write failures


@pytest.mark.parametrize(
    ("code", "cause"),
    [
        (errno.ENOSPC, "no space left on the device"),
        (errno.EROFS, "read-only file system"),
        (errno.EACCES, "permission denied"),
        (errno.ENAMETOOLONG, "name too long for this file system"),
    ],
)
def test_a_failed_write_is_one_line_naming_the_path_and_cause_and_leaves_no_scratch(
    tmp_path, monkeypatch, code, cause
):
    def refuse(*args):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "replace", refuse)
    target = tmp_path / "out.png"
    with pytest.raises(OutputError) as info, atomic_output(target) as scratch:
        scratch.write_bytes(b"data")
    assert str(info.value).startswith(f"{target}: cannot write it: {cause}; ")
    assert list(tmp_path.iterdir()) == []


def test_a_name_near_the_file_system_limit_still_writes(tmp_path):
    target = tmp_path / ("x" * 250 + ".png")
    with atomic_output(target) as scratch:
        scratch.write_bytes(b"data")
    assert target.read_bytes() == b"data"


@pytest.fixture
def small_disk(tmp_path):
    """A 600 KB tmpfs mounted by the test (root only; skipped with the reason elsewhere)."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(folder)])
    if mounted.returncode != 0:
        pytest.skip("this machine does not let the test mount a tmpfs")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.slow  # make test-full: keeps make test under 10 minutes
def test_a_disk_that_fills_during_training_ends_in_one_line_and_the_rerun_resumes(
    small_disk, data_dir, run
):
    run_dir = small_disk / "run"
    full = run(train_cmd(run_dir, data_dir, "trainer.max_epochs=4"))
    assert "cannot write it: no space left on the device" in one_line(full)
    assert not [p for p in run_dir.rglob(".*") if "partial" in p.name]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and "no space left" in summary["error"]
    subprocess.run(["mount", "-o", "remount,size=20m", str(small_disk)], check=True)
    again = run(train_cmd(run_dir, data_dir, "trainer.max_epochs=4", "ckpt_path=last"))
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"


def test_an_export_into_a_read_only_folder_ends_in_one_line(tmp_path, capsys):
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only tmpfs needs root")
    folder = tmp_path / "ro"
    folder.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)]
    ).returncode:
        pytest.skip("this machine does not let the test mount a tmpfs")
    try:
        assert export_main(["--onnx", str(folder / "model.onnx")]) == 1
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
    err = capsys.readouterr().err
    assert err == f"error: {folder / 'model.onnx'}: cannot write it: read-only file system; " + (
        "write to a writable folder\n"
    )


# Advice that leads somewhere


def test_a_sweep_given_on_the_command_line_alone_lists_its_jobs(tmp_path):
    saved = {
        "hydra": {
            "sweeper": {
                "_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
                "params": None,
            },
            "overrides": {"task": ["experiment=smoke", "seed=1,2"]},
            "sweep": {"subdir": "${hydra.job.num}"},
        }
    }
    (tmp_path / "multirun.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(saved)))
    assert expected_jobs(tmp_path) == [
        ["experiment=smoke", "seed=1"],
        ["experiment=smoke", "seed=2"],
    ]


def test_another_projects_lightning_checkpoint_is_refused_by_what_it_is(tmp_path):
    foreign = tmp_path / "checkpoints" / "other.ckpt"
    foreign.parent.mkdir()
    torch.save(
        {"epoch": 9, "global_step": 90, "state_dict": {"encoder.w": torch.zeros(2)}}, foreign
    )
    with pytest.raises(
        WeightsError, match="is not a checkpoint of an espcn-lightning training run"
    ):
        check_checkpoint(str(foreign), foreign.parent)


def test_a_corrupt_checkpoint_lists_only_this_projects_intact_ones_beside_it(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    ours = {"epoch": 1, "global_step": 10, "state_dict": {"net.tail.bias": torch.zeros(9)}}
    torch.save(ours, folder / "best.ckpt")
    torch.save(
        {"epoch": 1, "global_step": 10, "state_dict": {"x": torch.zeros(1)}}, folder / "x.ckpt"
    )
    (folder / "last.ckpt").write_bytes(b"broken")
    with pytest.raises(WeightsError) as info:
        check_checkpoint("last", folder)
    assert f"intact: {folder / 'best.ckpt'};" in str(info.value)
    assert "x.ckpt" not in str(info.value)


def test_a_video_opencv_cannot_read_gets_advice_that_fits_an_mp4(tmp_path, capsys):
    (tmp_path / "empty.mp4").write_bytes(b"")
    assert upscale_main([str(tmp_path / "empty.mp4"), str(tmp_path / "out.mp4")]) == 1
    err = capsys.readouterr().err
    assert "OpenCV cannot read this video" in err and "convert it to mp4" not in err


def test_a_file_that_is_neither_image_nor_video_is_named_as_such(tmp_path, capsys):
    (tmp_path / "audio.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    assert upscale_main([str(tmp_path / "audio.wav"), str(tmp_path / "out.wav")]) == 1
    assert "audio.wav: neither an image nor a video" in capsys.readouterr().err


@pytest.mark.parametrize("scale", ["0", "-3"])
def test_a_scale_below_two_is_refused_without_suggesting_to_train_it(tmp_path, capsys, scale):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "in.png")
    assert upscale_main([str(tmp_path / "in.png"), str(tmp_path / "o.png"), "--scale", scale]) == 1
    err = capsys.readouterr().err
    assert f"--scale {scale}: use a factor of at least 2" in err and "train" not in err


def test_a_data_directory_that_is_a_file_is_called_a_file(tmp_path):
    (tmp_path / "data").write_text("not a folder")
    with pytest.raises(Exception, match="is a file, not a folder"):
        dataset_files(tmp_path / "data", "Set5")


def test_an_onnx_export_to_another_suffix_is_refused(tmp_path, capsys):
    assert export_main(["--onnx", str(tmp_path / "x.txt")]) == 1
    assert "give a path ending in .onnx" in capsys.readouterr().err
    assert not (tmp_path / "x.txt").exists()


def test_a_bad_image_in_an_archive_is_named_by_archive_and_member(tmp_path, data_dir):
    import zipfile

    from espcn_lightning.core.errors import DataError
    from espcn_lightning.datasets.importer import import_dataset

    archive = tmp_path / "set5.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in dataset_files(data_dir, "Set5"):
            data = b"not an image" if path.stem == "bird" else path.read_bytes()
            zipped.writestr(f"Set5/{path.name}", data)
    with pytest.raises(DataError) as info:
        import_dataset(archive, "Set5", tmp_path / "data")
    message = str(info.value)
    assert message.startswith(f"{archive} (its Set5/bird.png): not a readable image")
    assert ".import-" not in message


def test_a_broken_image_in_a_folder_says_how_many_were_upscaled_before_it(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "a.png")
    data = (folder / "a.png").read_bytes()
    (folder / "b.png").write_bytes(data[: len(data) // 2])
    assert upscale_main([str(folder), str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert f"1 of 2 images were upscaled into {tmp_path / 'out'} before it" in err


@pytest.mark.parametrize("app", ["espcn_lightning.train", "espcn_lightning.evaluate"])
def test_a_run_dir_on_a_read_only_mount_ends_in_one_line(tmp_path, run, app):
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only tmpfs needs root")
    folder = tmp_path / "ro"
    folder.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)]
    if subprocess.run(mount).returncode:
        pytest.skip("this machine does not let the test mount a tmpfs")
    try:
        refused = run([sys.executable, "-m", app, f"hydra.run.dir={folder / 'run'}"])
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
    assert one_line(refused) == (
        f"error: hydra.run.dir: {folder / 'run'}: cannot write it: read-only file system; "
        "write to a writable folder"
    )
