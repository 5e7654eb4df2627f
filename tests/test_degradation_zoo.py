"""The degradation zoo: each library resizer is that library's own output, the corruptions have the
statistics they claim, the random pipeline is seeded, and every config option builds."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from espcn_lightning.core.corruptions import Blur, Jpeg, Noise, Pipeline, anisotropic_kernel
from espcn_lightning.core.degradations import Bicubic, imresize
from espcn_lightning.core.errors import ConfigError
from espcn_lightning.core.random_degradation import RandomDegradation
from espcn_lightning.core.resizers import Resize
from espcn_lightning.datasets.datamodule import extract_patches
from espcn_lightning.evaluation.robustness import MATRIX, build_degradation, zoo


@pytest.fixture
def picture() -> np.ndarray:
    """A 48x60 uint8 picture with edges and texture, so that filters differ visibly."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:48, 0:60]
    smooth = 128 + 60 * np.sin(x / 3.0) * np.cos(y / 5.0)
    return np.clip(smooth + rng.normal(0, 12, smooth.shape), 0, 255).astype(np.uint8)


def as_tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels.astype(np.float64) / 255.0)


@pytest.mark.parametrize("method", ["cubic", "linear", "area", "nearest"])
def test_opencv_resizers_give_what_cv2_resize_gives_on_the_uint8_picture(picture, method):
    flag = {"cubic": 2, "linear": 1, "area": 3, "nearest": 0}[method]
    expected = cv2.resize(picture, (20, 16), interpolation=flag).astype(np.float64)
    ours = Resize(3, "opencv", method)(as_tensor(picture)).numpy() * 255
    # OpenCV rounds its uint8 output; ours stays in float
    assert np.abs(ours - expected).max() <= 0.5 + 1e-6


@pytest.mark.parametrize("method", ["bicubic", "bilinear", "nearest"])
def test_pillow_resizers_give_what_image_resize_gives_on_the_uint8_picture(picture, method):
    expected = np.asarray(
        Image.fromarray(picture).resize((20, 16), getattr(Image.Resampling, method.upper())),
        dtype=np.float64,
    )
    ours = Resize(3, "pillow", method)(as_tensor(picture)).numpy() * 255
    # Pillow rounds an 8-bit image to whole levels after each of its two passes; ours stays float
    assert np.abs(ours - expected).max() <= 1.0


def test_opencv_area_is_the_mean_of_each_block(picture):
    blocks = picture.astype(np.float64).reshape(16, 3, 20, 3).mean(axis=(1, 3)) / 255
    assert np.allclose(Resize(3, "opencv", "area")(as_tensor(picture)).numpy(), blocks)


def test_opencv_nearest_keeps_one_pixel_of_each_block_without_filtering(picture):
    ours = Resize(2, "opencv", "nearest")(as_tensor(picture)).numpy() * 255
    assert np.array_equal(ours, picture[::2, ::2].astype(np.float64))


def test_pillow_bicubic_is_matlab_bicubic_away_from_the_borders(picture):
    """Both antialias with a = -0.5; only their border handling differs."""
    matlab = imresize(as_tensor(picture), 1 / 3).numpy()
    pillow = Resize(3, "pillow", "bicubic")(as_tensor(picture)).numpy()
    assert np.abs(matlab - pillow)[2:-2, 2:-2].max() < 1e-5


def test_opencv_cubic_differs_from_matlab_bicubic_because_it_does_not_antialias(picture):
    matlab = imresize(as_tensor(picture), 1 / 3).numpy()
    opencv = Resize(3, "opencv", "cubic")(as_tensor(picture)).numpy()
    assert np.abs(matlab - opencv).mean() > 5 / 255


def test_resizers_keep_leading_dims_and_dtype():
    batch = torch.rand(2, 3, 12, 18, dtype=torch.float32)
    out = Resize(3, "pillow", "bilinear")(batch)
    assert out.shape == (2, 3, 4, 6) and out.dtype == torch.float32


@pytest.mark.parametrize(
    ("library", "method", "option"),
    [("gimp", "cubic", "library"), ("opencv", "bicubic", "method"), ("pillow", "area", "method")],
)
def test_an_unknown_resizer_is_refused_naming_the_choices(library, method, option):
    with pytest.raises(ConfigError, match=f"degradation.{option}"):
        Resize(3, library, method)


def test_the_anisotropic_kernel_has_the_widths_it_is_asked_for_along_its_turned_axes():
    kernel = anisotropic_kernel(2.0, 0.8, 30.0)
    radius = kernel.shape[0] // 2
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    theta = np.radians(30.0)
    along = x * np.cos(theta) + y * np.sin(theta)
    across = -x * np.sin(theta) + y * np.cos(theta)
    assert kernel.sum() == pytest.approx(1.0)
    assert np.sqrt((kernel * along**2).sum()) == pytest.approx(2.0, rel=0.02)
    assert np.sqrt((kernel * across**2).sum()) == pytest.approx(0.8, rel=0.02)


def test_blur_keeps_a_flat_image_flat_and_softens_an_edge():
    flat = torch.full((20, 20), 0.4, dtype=torch.float64)
    assert torch.allclose(Blur(1.5)(flat), flat)
    edge = torch.zeros(20, 20, dtype=torch.float64)
    edge[:, 10:] = 1
    blurred = Blur(1.5)(edge)
    assert 0 < blurred[5, 9] < 0.5 < blurred[5, 10] < 1


def test_noise_has_the_asked_standard_deviation_and_is_seeded():
    grey = torch.full((256, 256), 0.5, dtype=torch.float64)
    noisy = Noise(5.0, seed=3)(grey)
    residual = (noisy - grey) * 255
    assert residual.std().item() == pytest.approx(5.0, rel=0.03)
    assert abs(residual.mean().item()) < 0.1
    assert torch.equal(noisy, Noise(5.0, seed=3)(grey))
    assert not torch.equal(noisy, Noise(5.0, seed=4)(grey))


def test_jpeg_quantises_to_grey_levels_and_loses_more_at_lower_quality(picture):
    image = as_tensor(picture)
    good, poor = Jpeg(95)(image), Jpeg(10)(image)
    assert torch.allclose(good * 255, torch.round(good * 255))
    assert (poor - image).abs().mean() > 2 * (good - image).abs().mean()


def test_a_pipeline_applies_its_steps_in_order(picture):
    image = as_tensor(picture)
    chained = Pipeline([Blur(1.0), Resize(3, "opencv", "area")])(image)
    assert torch.allclose(chained, Resize(3, "opencv", "area")(Blur(1.0)(image)))


def test_the_random_pipeline_with_nothing_random_is_the_resizer_it_is_given(picture):
    quiet = dict(blur_probability=0, noise_probability=0, jpeg_probability=0)
    image = as_tensor(picture)[None].repeat(3, 1, 1)
    matlab = RandomDegradation(3, resizers=["matlab/bicubic"], **quiet)(image)
    assert torch.allclose(matlab, imresize(image, 1 / 3))
    nearest = RandomDegradation(3, resizers=["opencv/nearest"], **quiet)(image)
    assert torch.allclose(nearest, Resize(3, "opencv", "nearest")(image))


def test_the_random_pipeline_draws_per_plane_and_follows_its_seed(picture):
    planes = as_tensor(picture)[None].repeat(40, 1, 1)
    first = RandomDegradation(3, seed=1)(planes)
    assert torch.equal(first, RandomDegradation(3, seed=1)(planes))
    assert not torch.equal(first, RandomDegradation(3, seed=2)(planes))
    distinct = {tuple(plane.flatten()[:20].tolist()) for plane in first}
    assert len(distinct) > 20  # the same plane, degraded many different ways


def test_the_random_pipeline_uses_every_resizer_about_equally():
    """Statistics with a fixed seed: over 800 draws each of the 8 resizers comes up 100 +- 35."""
    pipeline = RandomDegradation(3, seed=0)
    picks = [pipeline.rng.integers(len(pipeline.resizers)) for _ in range(800)]
    counts = np.bincount(picks, minlength=len(pipeline.resizers))
    assert counts.min() > 65 and counts.max() < 135


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("resizers", ["opencv/bicubic"]),
        ("blur_probability", 1.5),
        ("noise_sigma", [6.0, 1.0]),
        ("jpeg_quality", [0, 90]),
    ],
)
def test_bad_random_pipeline_options_are_refused_naming_the_option(option, value):
    with pytest.raises(ConfigError, match=f"degradation.{option}"):
        RandomDegradation(3, **{option: value})


class PerPatchBicubic(Bicubic):
    """MATLAB bicubic, applied patch by patch the way the random pipeline is."""

    per_patch = True


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_degrading_each_patch_with_its_margin_gives_the_whole_images_patches(scale):
    """The margin is wide enough that no patch sees a border the image does not have."""
    hr = torch.rand(26 * scale, 31 * scale, dtype=torch.float64)
    whole, whole_hr = extract_patches(hr, Bicubic(scale), scale, 7, 5)
    each, each_hr = extract_patches(hr, PerPatchBicubic(scale), scale, 7, 5)
    assert each.shape == whole.shape and torch.equal(each_hr, whole_hr)
    assert torch.allclose(each, whole, atol=1e-12)


@pytest.mark.parametrize("name", zoo())
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_every_degradation_in_the_config_group_builds_and_shrinks_by_the_scale(name, scale):
    lr = build_degradation(name, scale)(torch.rand(12 * scale, 10 * scale, dtype=torch.float64))
    assert lr.shape == (12, 10)
    assert torch.isfinite(lr).all()


def test_the_matrix_rows_are_all_in_the_zoo_the_paper_first():
    assert set(MATRIX) <= set(zoo()) and MATRIX[0] == "bicubic"


def test_an_unknown_degradation_is_refused_naming_the_choices():
    with pytest.raises(ConfigError, match="no degradation 'blurry'.*opencv_cubic"):
        build_degradation("blurry", 3)
