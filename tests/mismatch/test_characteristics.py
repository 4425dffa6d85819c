"""Each characteristic against a value worked by hand on a tiny image."""

import math

import numpy as np
import pytest
from PIL import Image

from mlstrat.mismatch.characteristics import Batch, measure_image


def grey(rows):
    return Image.fromarray(np.array(rows, dtype=np.uint8), "L")


# One bright pixel (8) in a 4x4 black image, at row 1, column 1.
DOT = [[0, 0, 0, 0], [0, 8, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_brightness_is_the_mean_luma():
    assert measure_image(grey(DOT))["brightness"] == pytest.approx(8 / 16)


def test_contrast_is_the_standard_deviation_of_luma():
    # mean 0.5; mean of squares 64 / 16 = 4; variance 4 - 0.25 = 3.75
    assert measure_image(grey(DOT))["contrast"] == pytest.approx(math.sqrt(3.75))


def test_sharpness_is_the_variance_of_the_laplacian_over_the_interior():
    # Interior Laplacians: (1,1) -4*8 = -32; (1,2) and (2,1) see the dot once: 8; (2,2) 0.
    # Mean -4; squared deviations 784 + 144 + 144 + 16 = 1088; / 4 = 272.
    assert measure_image(grey(DOT))["sharpness"] == pytest.approx(272)


def test_noise_is_immerkaers_estimate():
    # |L * N| over the interior: 4*8 + 2*8 + 2*8 + 1*8 = 72; times sqrt(pi/2) / (6 * 2 * 2).
    assert measure_image(grey(DOT))["noise"] == pytest.approx(72 * math.sqrt(math.pi / 2) / 24)


def test_a_flat_image_has_no_contrast_sharpness_or_noise():
    values = measure_image(grey([[50] * 5] * 5))
    assert values["brightness"] == 50
    assert values["contrast"] == values["sharpness"] == values["noise"] == 0


def test_a_linear_ramp_has_no_laplacian_and_no_noise():
    values = measure_image(grey([[10 * x + 5 * y for x in range(6)] for y in range(6)]))
    assert values["sharpness"] == pytest.approx(0, abs=1e-9)
    assert values["noise"] == pytest.approx(0, abs=1e-9)


def test_colourfulness_is_hasler_and_suesstrunk():
    image = Image.fromarray(np.array([[[255, 0, 0], [0, 0, 255]]], dtype=np.uint8), "RGB")
    values = measure_image(image)
    # rg = R - G: 255, 0 -> mean 127.5, std 127.5
    # yb = (R + G) / 2 - B: 127.5, -255 -> mean -63.75, std 191.25
    spread = math.sqrt(127.5**2 + 191.25**2)
    centre = math.sqrt(127.5**2 + 63.75**2)
    assert values["colourfulness"] == pytest.approx(spread + 0.3 * centre, rel=1e-6)
    # luma of red 0.299 * 255, of blue 0.114 * 255
    assert values["brightness"] == pytest.approx((0.299 + 0.114) * 255 / 2, rel=1e-6)


def test_a_grey_image_has_no_colour_even_when_stored_as_rgb():
    image = Image.fromarray(np.full((4, 4, 3), 90, dtype=np.uint8), "RGB")
    assert measure_image(image)["colourfulness"] == 0


def test_width_height_and_aspect_are_those_of_the_original():
    values = measure_image(grey(DOT), original_size=(640, 480))
    assert (values["width"], values["height"]) == (640, 480)
    assert values["aspect"] == pytest.approx(640 / 480)


def test_images_smaller_than_three_pixels_have_no_interior():
    values = measure_image(grey([[0, 255]]))
    assert values["sharpness"] == values["noise"] == 0
    assert values["contrast"] == pytest.approx(127.5)


def test_a_batch_measures_like_one_image_at_a_time():
    rng = np.random.default_rng(3)
    images = [
        Image.fromarray(rng.integers(0, 256, (8, 8), dtype=np.uint8), "L") for _ in range(5)
    ] + [Image.fromarray(rng.integers(0, 256, (80, 90, 3), dtype=np.uint8), "RGB")]
    batch = Batch()
    for key, image in enumerate(images):
        batch.add(key, image)
    results = batch.results()
    for key, image in enumerate(images):
        assert results[key] == pytest.approx(measure_image(image))


def test_a_large_image_is_measured_at_the_working_scale():
    rng = np.random.default_rng(4)
    big = Image.fromarray(rng.integers(0, 256, (200, 300, 3), dtype=np.uint8), "RGB")
    # 300 px -> reduced by 3 (box filter) to 100 x 67, at most 128 px
    expected = measure_image(big.reduce(3), original_size=(300, 200))
    assert measure_image(big) == pytest.approx(expected)
    assert (expected["width"], expected["height"]) == (300, 200)


def test_a_batch_measures_images_above_the_working_side_at_that_scale_in_pixel_bounded_passes(
    monkeypatch,
):
    from mlstrat.mismatch import characteristics

    rng = np.random.default_rng(5)
    # 256 x 192 (a thumbnail) is reduced by 2 to 128 x 96; 300 x 200 by 3 to 100 x 67.
    images = [
        Image.fromarray(rng.integers(0, 256, (192, 256, 3), dtype=np.uint8), "RGB")
        for _ in range(7)
    ] + [Image.fromarray(rng.integers(0, 256, (200, 300), dtype=np.uint8), "L")]
    passes = []
    measure_stack = characteristics.measure_stack
    monkeypatch.setattr(
        characteristics,
        "measure_stack",
        lambda luma, rgb=None: passes.append(len(luma)) or measure_stack(luma, rgb),
    )
    # Room for three 128 x 96 images per pass.
    monkeypatch.setattr(characteristics, "BATCH_PIXELS", 3 * 128 * 96)
    batch = Batch()
    for key, image in enumerate(images):
        batch.add(key, image, original_size=image.size)
    results = batch.results()
    assert sorted(passes) == [1, 1, 3, 3]
    for key, image in enumerate(images):
        assert results[key] == pytest.approx(measure_image(image))
        assert (results[key]["width"], results[key]["height"]) == image.size
