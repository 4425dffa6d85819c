"""The one "k of n" of a review (figures.review_tally): who counts as reviewed, which
categories count under each team rule, and the "other" row."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlstrat.analytics.figures import category_share, review_tally


def tally(patterns, rule, quorum=1, sampled=100):
    return review_tally(sampled=sampled, patterns=patterns, rule=rule, quorum=quorum)


def test_errors_that_fit_no_category_stay_in_the_denominator():
    """75 errors looked at, 4 fit nothing: n is 75, not 71, and "other" holds the 4."""
    patterns = [(1, {"dog": 1}, 30), (1, {"blurry": 1}, 41), (1, {}, 4)]
    result = tally(patterns, "majority", sampled=75)
    assert result["reviewed"] == 75
    assert result["counts"] == {"dog": 30, "blurry": 41}
    assert result["none"] == 4
    assert category_share(result["counts"]["dog"], result["reviewed"], 0.10)["share"] == 30 / 75


def test_the_course_example_five_of_a_hundred_dogs():
    patterns = [(1, {"dog": 1}, 5), (1, {}, 95)]
    result = tally(patterns, "any")
    share = category_share(result["counts"]["dog"], result["reviewed"], 0.10)
    assert share["ceiling"] == pytest.approx(0.005)
    assert share["best_error"] == pytest.approx(0.095)


def test_majority_needs_more_than_half_of_the_people_who_reviewed_it():
    patterns = [
        (3, {"dog": 2, "blurry": 1}, 1),  # dog 2 of 3: counts; blurry 1 of 3: not
        (2, {"dog": 1, "blurry": 2}, 1),  # dog 1 of 2: not (a tie is not a majority)
        (1, {"dog": 1}, 1),
        (2, {}, 1),  # two people looked, nothing applies: "other"
    ]
    majority = tally(patterns, "majority")
    assert majority["counts"] == {"dog": 2, "blurry": 1}
    assert majority["reviewed"] == 4 and majority["none"] == 1
    anyone = tally(patterns, "any")
    assert anyone["counts"] == {"dog": 3, "blurry": 2}
    assert anyone["none"] == 1


def test_majority_waits_for_a_quorum_of_the_assigned_annotators():
    """Three annotators named: an example counts once two of them reviewed it."""
    patterns = [(1, {"dog": 1}, 10), (2, {"dog": 2}, 5), (3, {"dog": 1}, 2)]
    result = tally(patterns, "majority", quorum=2)
    assert result["reviewed"] == 7
    assert result["counts"] == {"dog": 5}
    assert result["none"] == 2
    # Under "any", one review is enough.
    assert tally(patterns, "any", quorum=2)["reviewed"] == 17


def test_counted_patterns_sum_to_n():
    patterns = [(1, {"a": 1, "b": 1}, 3), (1, {"a": 1}, 2), (1, {}, 5)]
    result = tally(patterns, "any")
    assert sum(times for _, times in result["patterns"]) == result["reviewed"] == 10
    assert [["a", "b"], 3] in result["patterns"]


def test_unknown_team_rule_is_refused():
    with pytest.raises(ValueError):
        tally([(1, {}, 1)], "unanimous")


example = st.tuples(
    st.integers(1, 4).flatmap(
        lambda r: st.tuples(
            st.just(r), st.dictionaries(st.sampled_from("abc"), st.integers(0, r), max_size=3)
        )
    ),
    st.integers(1, 5),
)


@given(st.lists(example, max_size=30), st.integers(1, 3))
def test_majority_never_counts_more_than_any(examples, quorum):
    patterns = [(r, ticks, times) for (r, ticks), times in examples]
    majority = tally(patterns, "majority", quorum=quorum)
    anyone = tally(patterns, "any", quorum=quorum)
    assert majority["reviewed"] <= anyone["reviewed"]
    for category, k in majority["counts"].items():
        assert k <= anyone["counts"][category] <= anyone["reviewed"]
    for result in (majority, anyone):
        counted = sum(times for kept, times in result["patterns"] if kept)
        assert counted + result["none"] == result["reviewed"]
