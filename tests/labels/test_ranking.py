"""Likely bad labels first, on a hand-made probability table."""

import pytest

from mlstrat.labels import ranking

TABLE = [
    # key, probabilities, given label
    ("a", {"cat": 0.90, "dog": 0.05, "bird": 0.05}, "cat"),  # sc 0.90, margin +0.85
    ("b", {"cat": 0.30, "dog": 0.60, "bird": 0.10}, "cat"),  # sc 0.30, margin -0.30
    ("c", {"cat": 0.05, "dog": 0.90, "bird": 0.05}, "cat"),  # sc 0.05, margin -0.85
    ("d", {"cat": 0.40, "dog": 0.35, "bird": 0.25}, "dog"),  # sc 0.35, margin -0.05
    ("e", {"cat": 0.20, "dog": 0.20, "bird": 0.60}, "bird"),  # sc 0.60, margin +0.40
    ("f", {"cat": 0.45, "dog": 0.10, "bird": 0.45}, "bird"),  # sc 0.45, margin 0.00
]


def test_self_confidence_puts_the_least_believed_label_first():
    ranked = ranking.rank_by_label_quality(TABLE, method=ranking.SELF_CONFIDENCE)
    assert [key for key, _ in ranked] == ["c", "b", "d", "f", "e", "a"]
    assert ranked[0][1] == pytest.approx(0.05)


def test_margin_puts_the_most_contradicted_label_first():
    ranked = ranking.rank_by_label_quality(TABLE, method=ranking.MARGIN)
    assert [key for key, _ in ranked] == ["c", "b", "d", "f", "e", "a"]
    assert [round(score, 2) for _, score in ranked] == [-0.85, -0.3, -0.05, 0.0, 0.4, 0.85]


def test_the_two_methods_can_disagree():
    table = [
        ("x", {"cat": 0.34, "dog": 0.33, "bird": 0.33}, "cat"),  # sc 0.34, margin +0.01
        ("y", {"cat": 0.40, "dog": 0.60, "bird": 0.00}, "cat"),  # sc 0.40, margin -0.20
    ]
    assert [k for k, _ in ranking.rank_by_label_quality(table)] == ["x", "y"]
    by_margin = ranking.rank_by_label_quality(table, method=ranking.MARGIN)
    assert [k for k, _ in by_margin] == ["y", "x"]


def test_a_label_without_probability_scores_zero():
    assert ranking.label_quality({"cat": 1.0}, "dog") == (0.0, -1.0)


def test_ties_keep_key_order():
    table = [("b", {"cat": 0.5, "dog": 0.5}, "cat"), ("a", {"cat": 0.5, "dog": 0.5}, "cat")]
    assert [k for k, _ in ranking.rank_by_label_quality(table)] == ["a", "b"]


def test_an_unknown_method_is_refused():
    with pytest.raises(ValueError, match="Rank by one of"):
        ranking.rank_by_label_quality(TABLE, method="vibes")
