"""Upscaling from Python in one call gives what the ``upscale`` command writes."""

import cv2
import numpy as np
import pytest
from PIL import Image

import espcn_lightning
from espcn_lightning import upscale_image, upscale_video
from espcn_lightning.core.errors import ImageReadError, UpscaleError
from espcn_lightning.upscale import main as upscale_main


@pytest.fixture
def photo(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (30, 41, 3), np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(pixels).save(path)
    return path, pixels


def test_a_path_a_pil_image_and_an_array_give_the_upscale_commands_pixels(tmp_path, photo):
    path, pixels = photo
    assert upscale_main([str(path), str(tmp_path / "cli.png")]) == 0
    expected = np.asarray(Image.open(tmp_path / "cli.png"))
    from_path = upscale_image(path)
    from_pil = upscale_image(Image.open(path))
    from_array = upscale_image(pixels)
    assert isinstance(from_path, Image.Image) and isinstance(from_pil, Image.Image)
    assert isinstance(from_array, np.ndarray)
    for result in (np.asarray(from_path), np.asarray(from_pil), from_array):
        assert np.array_equal(result, expected)


def test_scale_picks_the_shipped_model_and_grey_stays_grey():
    grey = np.full((10, 12), 100, np.uint8)
    assert upscale_image(grey, scale=2).shape == (20, 24)
    assert upscale_image(grey, scale=4).shape == (40, 48)


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 4), np.uint8)])
def test_an_array_that_is_not_an_8_bit_picture_is_refused_in_one_line(bad):
    with pytest.raises(UpscaleError, match="uint8|give \\(H, W\\) grey"):
        upscale_image(bad)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ImageReadError, match="missing.png: no such file"):
        upscale_image(tmp_path / "missing.png")


def test_a_video_is_upscaled_frame_by_frame_into_the_target(tmp_path):
    source = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(source), cv2.VideoWriter_fourcc(*"MJPG"), 10, (40, 30))
    for i in range(4):
        writer.write(np.random.default_rng(i).integers(0, 256, (30, 40, 3), np.uint8))
    writer.release()
    assert upscale_video(source, tmp_path / "big.avi", scale=2, progress=False) == 4
    reader = cv2.VideoCapture(str(tmp_path / "big.avi"))
    assert int(reader.get(cv2.CAP_PROP_FRAME_WIDTH)) == 80
    reader.release()


def test_the_one_call_is_exported_from_the_top_package():
    assert {"upscale_image", "upscale_video", "load_model", "ESPCN"} <= set(espcn_lightning.__all__)
