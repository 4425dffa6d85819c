import pytest

from mlstrat.review.agreement import cohen_kappa, fleiss_kappa
from mlstrat.review.selectors import agreement
from mlstrat.review.services import comment_add, review_create, tag_set


def test_fleiss_kappa_matches_the_worked_example():
    # Fleiss (1971) as worked on Wikipedia: 10 items, 14 raters, 5 classes -> 0.210.
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa(table) == pytest.approx(0.2099, abs=1e-4)


def test_cohen_kappa_matches_the_worked_example():
    # 50 items: both yes 20, only A yes 5, only B yes 10, both no 15 -> po .7, pe .5, kappa .4
    a = [True] * 20 + [True] * 5 + [False] * 10 + [False] * 15
    b = [True] * 20 + [False] * 5 + [True] * 10 + [False] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_two_raters_fleiss_agrees_with_perfect_and_chance():
    assert fleiss_kappa([[2, 0], [0, 2], [2, 0], [0, 2]]) == pytest.approx(1.0)
    assert fleiss_kappa([[1, 1], [1, 1]]) == pytest.approx(-1.0)
    assert fleiss_kappa([[2, 0], [2, 0]]) is None  # everyone always said yes: undefined
    assert fleiss_kappa([[1, 0]]) is None  # nobody was seen twice


def test_the_lead_sees_where_annotators_disagree(api, alice, bob, carol, run, errors, blurry):
    review = review_create(run=run, created_by=alice, name="x", sample_size=None, seed=1)
    one, two, three = (p.example for p in errors[:3])
    tag_set(run=run, example=one, category=blurry, user=bob, review=review)
    tag_set(run=run, example=one, category=blurry, user=carol, review=review)
    tag_set(run=run, example=two, category=blurry, user=bob, review=review)
    comment_add(run=run, example=two, user=carol, text="not blurry, just small", review=review)
    tag_set(run=run, example=three, category=blurry, user=bob, review=review)  # only bob
    result = agreement(run=run, review=review)
    assert result["shared_examples"] == 2
    assert result["disagreements"] == [two.pk]
    blurry_row = next(c for c in result["categories"] if c["category"] == blurry.pk)
    assert (blurry_row["items"], blurry_row["disagreements"]) == (2, 1)
    assert blurry_row["kappa"] == pytest.approx(fleiss_kappa([[2, 0], [1, 1]]))
    api.force_authenticate(bob)
    assert api.get(f"/api/v1/reviews/{review.pk}/agreement/").json() == result
    rows = api.get(f"/api/v1/reviews/{review.pk}/rows/?view=agreement").json()["rows"]
    assert [r["example"] for r in rows] == [two.pk]
