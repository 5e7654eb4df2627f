"""Upscaling real images of every mode, folders and a video; ONNX parity; no silent overwrites."""

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image

from espcn_lightning import load_model
from espcn_lightning.engines import export_onnx
from espcn_lightning.export import main as export_main
from espcn_lightning.images import read_image
from espcn_lightning.upscale import main


@pytest.fixture
def butterfly(data_dir):
    return read_image(data_dir / "Set5" / "butterfly.png")[:60, :80]


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "P", "I;16"])
def test_images_of_every_mode_upscale_to_three_times_their_size(tmp_path, butterfly, mode):
    image = Image.fromarray(butterfly)
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image.convert("L")).astype(np.uint16) * 257)
    elif mode != "RGB":
        image = image.convert(mode)
    source, target = tmp_path / "in.png", tmp_path / "out.png"
    image.save(source)
    assert main([str(source), str(target)]) == 0
    out = read_image(target)
    assert out.shape[:2] == (180, 240)
    assert (out.ndim == 2) == (mode in ("L", "I;16"))


def test_colour_output_is_close_to_the_colour_original(tmp_path, data_dir):
    hr = read_image(data_dir / "Set5" / "butterfly.png")
    lr = np.asarray(Image.fromarray(hr).resize((hr.shape[1] // 3, hr.shape[0] // 3), Image.BICUBIC))
    Image.fromarray(lr).save(tmp_path / "lr.png")
    assert main([str(tmp_path / "lr.png"), str(tmp_path / "sr.png")]) == 0
    sr = read_image(tmp_path / "sr.png").astype(float)
    mse = np.mean((sr - hr[: sr.shape[0], : sr.shape[1]]) ** 2)
    assert 10 * np.log10(255**2 / mse) > 20


def test_a_folder_is_upscaled_into_another_folder(tmp_path, butterfly):
    (tmp_path / "in").mkdir()
    for name in ("a.png", "b.jpg"):
        Image.fromarray(butterfly).save(tmp_path / "in" / name)
    assert main([str(tmp_path / "in"), str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png", "b.jpg"]


def test_a_short_video_is_streamed_frame_by_frame(tmp_path, butterfly):
    source, target = tmp_path / "clip.avi", tmp_path / "big.avi"
    writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"MJPG"), 10, (80, 60))
    for i in range(5):
        writer.write(cv2.cvtColor(np.roll(butterfly, i, axis=1), cv2.COLOR_RGB2BGR))
    writer.release()
    assert main([str(source), str(target)]) == 0
    reader = cv2.VideoCapture(str(target))
    frames = []
    while True:
        ok, frame = reader.read()
        if not ok:
            break
        frames.append(frame.shape)
    assert frames == [(180, 240, 3)] * 5


def test_an_existing_output_is_never_overwritten_without_overwrite(tmp_path, butterfly, capsys):
    source, target = tmp_path / "in.png", tmp_path / "out.png"
    Image.fromarray(butterfly).save(source)
    target.write_bytes(b"precious")
    assert main([str(source), str(target)]) == 1
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert target.read_bytes() == b"precious"
    assert main([str(source), str(target), "--overwrite"]) == 0
    assert read_image(target).shape == (180, 240, 3)


def test_the_input_is_never_the_output(tmp_path, butterfly, capsys):
    source = tmp_path / "in.png"
    Image.fromarray(butterfly).save(source)
    before = source.read_bytes()
    assert main([str(source), str(source), "--overwrite"]) == 1
    assert "output is the input" in capsys.readouterr().err
    assert source.read_bytes() == before


def test_onnx_export_matches_torch_within_1e_4(tmp_path):
    net = load_model("espcn_x3_tanh_t91")
    path = export_onnx(net, tmp_path / "espcn.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for shape in ((1, 1, 37, 53), (2, 1, 64, 48)):
        x = torch.rand(shape)
        expected = net(x).detach().numpy()
        (got,) = session.run(None, {"lr": x.numpy()})
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= 1e-4


def test_export_refuses_to_overwrite(tmp_path, capsys):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"keep")
    assert export_main(["--onnx", str(path)]) == 1
    assert path.read_bytes() == b"keep"
