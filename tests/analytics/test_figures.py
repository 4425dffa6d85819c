"""The figures of the issue's worked examples, and properties that hold for any counts."""

import ast
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlstrat.analytics import figures
from mlstrat.analytics.figures import (
    category_share,
    confusion_matrix,
    error_decomposition,
    general_table,
    label_error_impact,
    runs_comparison,
    wilson_interval,
)

approx = pytest.approx


def test_figures_module_has_no_django():
    tree = ast.parse(Path(figures.__file__).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert "django" not in imported and "mlstrat" not in imported


# Category share and ceiling -------------------------------------------------------------


def test_five_dogs_in_a_hundred_errors_have_a_ceiling_of_half_a_point():
    """The course: 10% dev error, 5 of 100 errors are dogs: fixing dogs removes at most
    0.5 points (the ceiling), bringing the error to 9.5% at best."""
    figure = category_share(5, 100, 0.10)
    assert figure["share"] == approx(0.05)
    assert figure["ceiling"] == approx(0.005)
    assert figure["best_error"] == approx(0.095)


def test_fifty_dogs_in_a_hundred_errors_have_a_ceiling_of_five_points():
    figure = category_share(50, 100, 0.10)
    assert figure["ceiling"] == approx(0.05)
    assert figure["best_error"] == approx(0.05)


def test_share_has_a_wilson_interval():
    figure = category_share(5, 100, 0.10)
    assert figure["share_low"] == approx(0.0215, abs=1e-4)
    assert figure["share_high"] == approx(0.1118, abs=1e-4)
    assert figure["ceiling_low"] == approx(0.10 * figure["share_low"])
    assert figure["ceiling_high"] == approx(0.10 * figure["share_high"])
    assert figure["best_error_low"] == approx(0.10 * (1 - figure["share_high"]))
    assert figure["best_error_high"] == approx(0.10 * (1 - figure["share_low"]))


def test_the_interval_uses_the_exact_normal_quantile():
    from statistics import NormalDist

    assert figures.Z95 == 1.959963984540054
    assert abs(figures.Z95 - NormalDist().inv_cdf(0.975)) < 1e-15
    assert wilson_interval(5, 100) != wilson_interval(5, 100, z=1.96)
    # Hand-worked: k=5, n=100 with z = 1.959963984540054.
    low, high = wilson_interval(5, 100)
    assert low == approx(0.021543, abs=1e-6)
    assert high == approx(0.111750, abs=1e-6)


def test_share_without_reviewed_errors_is_unknown_not_zero():
    figure = category_share(0, 0, 0.10)
    assert figure["share"] is None and figure["ceiling"] is None


def test_wilson_interval_refuses_impossible_counts():
    with pytest.raises(ValueError):
        wilson_interval(5, 0)
    with pytest.raises(ValueError):
        wilson_interval(6, 5)


@given(st.integers(1, 10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_interval_contains_the_estimate_and_stays_a_probability(kn):
    k, n = kn
    low, high = wilson_interval(k, n)
    assert 0 <= low <= k / n <= high <= 1


@given(
    st.integers(1, 1000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.floats(0, 1),
)
def test_ceiling_plus_best_error_is_the_error(kn, error_rate):
    figure = category_share(*kn, error_rate)
    assert figure["ceiling"] + figure["best_error"] == approx(error_rate)
    assert figure["ceiling_low"] <= figure["ceiling"] <= figure["ceiling_high"]
    assert figure["best_error_low"] <= figure["best_error"] <= figure["best_error_high"]


# Label-error impact ----------------------------------------------------------------------


def test_six_percent_label_errors_of_ten_percent_error():
    impact = label_error_impact(0.10, 0.06)
    assert impact["due_to_labels"] == approx(0.006)
    assert impact["other_causes"] == approx(0.094)
    assert impact["labels_share"] == approx(0.06)
    assert impact["worth_fixing_labels"] is False


def test_same_label_errors_at_two_percent_error_are_worth_fixing():
    impact = label_error_impact(0.02, label_error_rate=0.006)
    assert impact["labels_share"] == approx(0.30)
    assert impact["due_to_labels"] == approx(0.006)
    assert impact["worth_fixing_labels"] is True
    assert "fixing dev/test labels has become worth it" in impact["verdict"]
    assert "30%" in impact["verdict"]


def test_label_impact_without_tags_says_so():
    impact = label_error_impact(0.10, None)
    assert impact["due_to_labels"] is None
    assert "Not enough data" in impact["verdict"]


@given(st.floats(0, 1), st.floats(0, 1))
def test_label_and_other_causes_add_up_to_the_error(error_rate, f_l):
    impact = label_error_impact(error_rate, f_l)
    assert impact["due_to_labels"] + impact["other_causes"] == approx(error_rate)
    assert impact["labels_share"] + impact["other_share"] == approx(1)


# Bias / variance / data mismatch -----------------------------------------------------------


def terms(decomposition):
    return {t["key"]: t["value"] for t in decomposition["terms"]}


def test_large_train_dev_gap_is_variance():
    d = error_decomposition(0, 0.01, 0.09, 0.10)
    assert terms(d)["variance"] == approx(0.08)
    assert d["largest"] == "variance"
    assert "regularize" in d["advice"].lower() and "more training data" in d["advice"].lower()


def test_large_dev_gap_is_data_mismatch():
    d = error_decomposition(0, 0.01, 0.015, 0.10)
    assert terms(d)["data_mismatch"] == approx(0.085)
    assert d["largest"] == "data_mismatch"
    assert "more like dev" in d["advice"]


def test_high_train_error_is_avoidable_bias():
    d = error_decomposition(0, 0.10, 0.11, 0.12)
    assert terms(d)["avoidable_bias"] == approx(0.10)
    assert d["largest"] == "avoidable_bias"
    assert "bigger model" in d["advice"]


def test_bias_and_mismatch_together():
    d = error_decomposition(0, 0.10, 0.11, 0.20)
    assert terms(d)["avoidable_bias"] == approx(0.10)
    assert terms(d)["data_mismatch"] == approx(0.09)
    assert d["largest"] == "avoidable_bias"


def test_all_four_gaps_with_human_level_four_percent():
    d = error_decomposition(0.04, 0.07, 0.10, 0.12, 0.12)
    assert terms(d) == {
        "avoidable_bias": approx(0.03),
        "variance": approx(0.03),
        "data_mismatch": approx(0.02),
        "overfitting_dev": approx(0.0),
    }


def test_overfitting_to_dev_suggests_a_bigger_dev_set():
    d = error_decomposition(0.0, 0.01, 0.012, 0.015, 0.06)
    assert d["largest"] == "overfitting_dev"
    assert "bigger dev set" in d["advice"]


def test_missing_train_dev_is_explained_not_zero():
    d = error_decomposition(0.0, 0.01, None, 0.10)
    by_key = {t["key"]: t for t in d["terms"]}
    assert by_key["variance"]["value"] is None
    assert "train-dev" in by_key["variance"]["explanation"]
    assert by_key["data_mismatch"]["value"] is None
    assert d["combined"]["value"] == approx(0.09)


def test_missing_human_level_is_explained():
    d = error_decomposition(None, 0.01, 0.02, 0.03)
    bias = d["terms"][0]
    assert bias["value"] is None and "human-level error is not set" in bias["explanation"]


rates = st.floats(0, 1, allow_nan=False)


@given(rates, rates, rates, rates, rates)
def test_gaps_sum_to_the_distance_from_human_level(human, train, train_dev, dev, test):
    t = terms(error_decomposition(human, train, train_dev, dev, test))
    assert t["avoidable_bias"] + t["variance"] + t["data_mismatch"] == approx(dev - human)
    assert sum(t.values()) == approx(test - human)


@given(st.one_of(st.none(), rates), st.one_of(st.none(), rates), st.one_of(st.none(), rates))
def test_a_gap_is_never_zero_for_a_missing_split(human, train, train_dev):
    for term in error_decomposition(human, train, train_dev, None, None)["terms"]:
        assert (term["value"] is None) == bool(term["explanation"])


# General table, team rule, confusion matrix, runs compared ------------------------------------


def test_general_table_has_a_column_per_source():
    table = general_table(
        sources=["general", "target"],
        trained={"general": (10, 1000), "target": (0, 0)},
        not_trained={"general": (12, 100), "target": (30, 200)},
        human_by_source={"general": 0.01},
    )
    general, target = table["columns"]
    assert general["trained"]["rate"] == approx(0.01)
    assert general["human"] == 0.01
    assert target["trained"]["rate"] is None
    assert target["not_trained"]["rate"] == approx(0.15)
    assert target["human"] is None


def test_confusion_matrix_rows_are_normalised():
    matrix = confusion_matrix([("cat", "cat", 8), ("cat", "dog", 2), ("dog", "dog", 5)], ["cat"])
    assert matrix["labels"] == ["cat", "dog"]
    cat_row = matrix["rows"][0]
    assert cat_row["total"] == 10
    assert [c["share"] for c in cat_row["cells"]] == [approx(0.8), approx(0.2)]


def test_runs_compared_show_what_the_last_iteration_fixed():
    compared = runs_comparison(
        [
            {"splits": {"dev": 0.10, "train_dev": None}, "decomposition": {}, "shares": {}},
            {"splits": {"dev": 0.02, "train_dev": 0.01}, "decomposition": {}, "shares": {}},
        ]
    )
    assert compared[0]["deltas"]["splits"]["dev"] is None
    assert compared[1]["deltas"]["splits"]["dev"] == approx(-0.08)
    assert compared[1]["deltas"]["splits"]["train_dev"] is None


def test_confusion_matrix_limited_to_the_classes_with_most_errors():
    cells = [("a", "a", 50), ("a", "b", 5), ("b", "b", 40), ("c", "c", 30), ("c", "a", 1)]
    matrix = confusion_matrix(cells, ["a", "b", "c"], limit=2)
    assert matrix["labels"] == ["a", "b"] and matrix["hidden"] == 1
    assert matrix["rows"][0]["total"] == 55
    assert matrix["rows"][0]["cells"][1]["share"] == approx(5 / 55)


def test_negative_gap_is_shown_with_a_note():
    d = error_decomposition(0.005, 0.001, 0.028, 0.214)
    bias = d["terms"][0]
    assert bias["value"] == approx(-0.004)
    assert "below the human-level estimate" in bias["note"]
    assert d["largest"] == "data_mismatch"
