"""The response curve and its inversion, worked by hand."""

import pytest

from mlstrat.mismatch import matching


def test_the_response_is_the_median_ratio_made_monotone():
    before = [100, 200, 50]
    after = [[100, 200, 50], [50, 80, 30], [10, 30, 10], [12, 20, 6]]
    # ratios: 1; (.5, .4, .6) -> .5; (.1, .15, .2) -> .15; (.12, .1, .12) -> .12
    curve = matching.fit_response(model="ratio", before=before, after=after)
    assert curve == pytest.approx([1, 0.5, 0.15, 0.12])
    bumpy = matching.fit_response(model="shift", before=[0, 0], after=[[0, 0], [5, 5], [4, 4]])
    assert bumpy == [0, 5, 5]  # never going back down


def test_inverting_interpolates_between_grid_points():
    grid, curve = [0, 1, 2], [1.0, 0.5, 0.25]
    # an image of sharpness 400 to reach 300: ratio .75, halfway between 0 and 1
    sigma, clamped = matching.invert(grid=grid, curve=curve, model="ratio", before=400, target=300)
    assert sigma == pytest.approx(0.5) and not clamped
    # to reach 50 (ratio .125) is beyond the grid: its end, flagged
    sigma, clamped = matching.invert(grid=grid, curve=curve, model="ratio", before=400, target=50)
    assert sigma == 2 and clamped
    # a target sharper than the source cannot be reached by blurring
    sigma, clamped = matching.invert(grid=grid, curve=curve, model="ratio", before=400, target=800)
    assert sigma == 0 and clamped


def test_shift_model_inverts_differences():
    value, clamped = matching.invert(
        grid=[0, 0.1, 0.2], curve=[0, 10, 30], model="shift", before=5, target=25
    )
    assert value == pytest.approx(0.15) and not clamped


def test_targets_are_drawn_from_the_quantiles():
    quantiles = matching.target_quantiles([0, 10, 20, 30, 40], count=5)
    assert quantiles == [0, 10, 20, 30, 40]
    assert matching.draw_target(quantiles, 0.5) == 20
    assert matching.draw_target(quantiles, 0.125) == pytest.approx(5)
