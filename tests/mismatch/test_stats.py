"""Distances, shares and their words, worked by hand."""

import math

import pytest

from mlstrat.mismatch import stats


def test_z_is_the_exact_975_normal_quantile():
    assert stats.Z975 == pytest.approx(1.959963984540054, abs=1e-15)


def test_ks_is_the_largest_gap_between_the_empirical_cdfs():
    # CDFs at 1, 2, 3, 4: a = 1/3, 2/3, 1, 1; b = 0, 1/3, 2/3, 1 -> gap 1/3.
    assert stats.ks_statistic([1, 2, 3], [2, 3, 4]) == pytest.approx(1 / 3)
    assert stats.ks_statistic([1, 2], [5, 6]) == 1
    assert stats.ks_statistic([1, 2, 3], [3, 2, 1]) == 0


def test_wasserstein_is_the_area_between_the_cdfs():
    # Shifting every value by 1 moves all mass by 1.
    assert stats.wasserstein([1, 2, 3], [2, 3, 4]) == pytest.approx(1)
    # Half the mass moves from 0 to 10: 5.
    assert stats.wasserstein([0, 0], [0, 10]) == pytest.approx(5)


def test_binned_distances_put_each_bins_mass_at_its_centre():
    edges = [0, 1, 2, 3]
    # a: all in bin 0 (centre 0.5); b: all in bin 2 (centre 2.5) -> W1 = 2, KS = 1.
    assert stats.wasserstein_binned([4, 0, 0], [0, 0, 2], edges) == pytest.approx(2)
    assert stats.ks_binned([4, 0, 0], [0, 0, 2]) == 1
    # half and half vs all in the middle: CDFs (.5, .5, 1) vs (0, 1, 1): KS .5, W1 .5 + .5
    assert stats.ks_binned([1, 0, 1], [0, 3, 0]) == pytest.approx(0.5)
    assert stats.wasserstein_binned([1, 0, 1], [0, 3, 0], edges) == pytest.approx(1)


def test_histograms_and_their_medians():
    edges = stats.bin_edges(0, 10, 5)
    assert edges == [0, 2, 4, 6, 8, 10]
    assert stats.histogram([0, 1, 2, 9.9, 10], edges) == [2, 1, 0, 0, 2]
    # 4 values in [0, 2), 4 in [2, 4): the median sits at the edge 2.
    assert stats.median_binned([4, 4, 0, 0, 0], edges) == pytest.approx(2)


def test_log_edges_are_even_in_log1p():
    edges = stats.bin_edges(0, math.e**2 - 1, 2, log_scale=True)
    assert edges == pytest.approx([0, math.e - 1, math.e**2 - 1])


def test_total_variation_is_half_the_l1_distance_of_the_shares():
    # shares a: x .5, y .5; b: x .25, z .75 -> (.25 + .5 + .75) / 2 = .75
    assert stats.total_variation({"x": 2, "y": 2}, {"x": 1, "z": 3}) == pytest.approx(0.75)
    assert stats.total_variation({"x": 1}, {"x": 5}) == 0


def test_share_uses_the_wilson_interval_with_the_exact_z():
    figure = stats.share(5, 20)
    z = 1.959963984540054
    p, n = 0.25, 20
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert figure["share"] == 0.25
    assert figure["low"] == pytest.approx(centre - half, abs=1e-12)
    assert figure["high"] == pytest.approx(centre + half, abs=1e-12)
    assert stats.share(0, 0)["share"] is None


def test_the_difference_has_newcombes_interval():
    # Newcombe (1998), his example (method 10): 56/70 vs 48/80 -> 0.2 (0.0524, 0.3339).
    figure = stats.share_difference(48, 80, 56, 70)
    assert figure["difference"] == pytest.approx(0.2)
    assert figure["low"] == pytest.approx(0.0524, abs=5e-4)
    assert figure["high"] == pytest.approx(0.3339, abs=5e-4)


def test_the_sentence_names_the_direction_and_strength():
    words = dict(subject="dev", reference="train", higher="sharper", lower="blurrier")
    much = stats.shift_sentence(
        **words, ks=0.7, median_subject=120, median_reference=850, label="Sharpness"
    )
    assert much == "dev is much blurrier than train (sharpness median 120 vs 850)"
    slight = stats.shift_sentence(
        **words, ks=0.15, median_subject=9, median_reference=8, label="Sharpness"
    )
    assert slight.startswith("dev is slightly sharper than train")
    alike = stats.shift_sentence(
        **words, ks=0.05, median_subject=9, median_reference=8, label="Sharpness"
    )
    assert alike.startswith("dev and train look alike in sharpness")
