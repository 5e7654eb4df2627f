"""Reading images of every mode, and clear errors for files that are not images."""

import numpy as np
import pytest
from PIL import Image

from espcn_lightning.core.images import ImageReadError, read_image

RGB = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [10, 20, 30]]], dtype=np.uint8)


def save(path, image):
    image.save(path)
    return path


def test_rgb_is_read_as_it_is(tmp_path):
    assert np.array_equal(read_image(save(tmp_path / "a.png", Image.fromarray(RGB))), RGB)


def test_grey_is_read_as_a_two_dimensional_array(tmp_path):
    grey = np.array([[0, 128], [200, 255]], dtype=np.uint8)
    assert np.array_equal(read_image(save(tmp_path / "g.png", Image.fromarray(grey))), grey)


def test_rgba_drops_the_alpha_channel(tmp_path):
    rgba = np.dstack([RGB, np.full((2, 2), 7, np.uint8)])
    assert np.array_equal(read_image(save(tmp_path / "a.png", Image.fromarray(rgba))), RGB)


def test_palette_is_expanded_to_rgb(tmp_path):
    palette = Image.fromarray(RGB).quantize(colors=4)
    result = read_image(save(tmp_path / "p.png", palette))
    assert result.shape == (2, 2, 3)
    assert np.array_equal(result, np.asarray(palette.convert("RGB")))


def test_16_bit_grey_is_scaled_to_8_bits(tmp_path):
    deep = np.array([[0, 257 * 100], [65535, 257 * 3]], dtype=np.uint16)
    result = read_image(save(tmp_path / "d.png", Image.fromarray(deep)))
    assert result.dtype == np.uint8
    assert result.tolist() == [[0, 100], [255, 3]]


def test_jpeg_and_bmp_are_read(tmp_path):
    for suffix in (".jpg", ".bmp", ".tif"):
        assert read_image(save(tmp_path / f"x{suffix}", Image.fromarray(RGB))).shape == (2, 2, 3)


def test_truncated_png_names_the_file(tmp_path):
    path = save(
        tmp_path / "cut.png", Image.fromarray(np.random.randint(0, 255, (64, 64, 3), np.uint8))
    )
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ImageReadError, match="cut.png: not a readable image"):
        read_image(path)


def test_text_file_named_png_names_the_file(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    with pytest.raises(ImageReadError, match="notes.png: not a readable image"):
        read_image(path)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    path = save(tmp_path / "big.png", Image.new("L", (400, 300)))
    with pytest.raises(ImageReadError, match="big.png: 400x300 pixels is above the limit"):
        read_image(path, max_pixels=100_000)
