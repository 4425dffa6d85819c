"""Starting a review with fields of the wrong kind or out of range: a 400 naming the field,
as JSON and as a form (which no JSON parser guards)."""

import pytest

from mlstrat.review.models import Review


def start(api, user, run, fmt="json", **fields):
    api.force_authenticate(user)
    return api.post("/api/v1/reviews/", {"run": run.pk, "name": "x", **fields}, format=fmt)


@pytest.mark.parametrize("fmt", ["json", "multipart"])
@pytest.mark.parametrize("value", [-1, 0, 2**31, 2**63 - 1, "abc", "12abc", "1e3", 1.5], ids=str)
def test_a_sample_size_out_of_range_or_not_a_whole_number_is_a_400(
    api, carol, run, errors, fmt, value
):
    response = start(api, carol, run, fmt, sample_size=value)
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["sample_size"]
    assert not Review.objects.exists()


@pytest.mark.parametrize("fmt", ["json", "multipart"])
@pytest.mark.parametrize("value", [-1, 2**63, -(2**63) - 1, 2**64, "abc", "7x", 1.5], ids=str)
def test_a_seed_out_of_range_or_not_a_whole_number_is_a_400(api, carol, run, errors, fmt, value):
    response = start(api, carol, run, fmt, seed=value)
    assert response.status_code == 400, response.content
    body = response.json()
    # Beyond 64 bits the JSON parser refuses the body, naming the field in its reason.
    assert list(body) == ["seed"] or body["detail"].startswith("JSON parse error - seed:"), body
    assert not Review.objects.exists()


@pytest.mark.parametrize("fmt", ["json", "multipart"])
def test_the_largest_seed_and_sample_size_are_taken(api, carol, run, errors, fmt):
    response = start(api, carol, run, fmt, seed=2**63 - 1, sample_size=2**31 - 1)
    assert response.status_code == 201, response.content
    review = Review.objects.get()
    assert review.seed == 2**63 - 1 and review.items.count() == 12


@pytest.mark.parametrize(
    "value", [["label", "cat"], [["label", "cat"]], [], "label", "", 5, 0, True, False]
)
def test_filters_that_are_not_an_object_are_a_400(api, carol, run, errors, value):
    response = start(api, carol, run, filters=value)
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["filters"]
    assert not Review.objects.exists()


@pytest.mark.parametrize("value", ['["label"]', '"label"', "5", "not json"])
def test_filters_in_a_form_that_are_not_an_object_are_a_400(api, carol, run, errors, value):
    response = start(api, carol, run, "multipart", filters=value)
    assert response.status_code == 400, response.content
    assert list(response.json()) == ["filters"]
    assert not Review.objects.exists()
