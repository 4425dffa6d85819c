"""Names that look alike are one name: a category, a saved view or a review whose name
differs from an existing one only by case, look-alike letters (Cyrillic а for Latin a),
width, or invisible characters is refused with the name it looks like."""

import pytest

from mlstrat.review.models import ErrorCategory, SavedView

CYRILLIC_U = "\u0443"  # у, looks like y
CYRILLIC_A = "\u0430"  # а, looks like a


def post_category(api, dataset, name):
    return api.post("/api/v1/categories/", {"dataset": dataset.pk, "name": name}, format="json")


@pytest.mark.parametrize(
    "name",
    [
        f"Blurr{CYRILLIC_U}",
        "blurry",
        "BLURRY",
        "\uff22lurry",  # fullwidth B, NFKC makes it Blurry
        "Blurry ",
        "\U0001d401lurry",  # mathematical bold B
    ],
)
def test_a_category_that_looks_like_an_existing_one_is_refused(api, alice, dataset, blurry, name):
    api.force_authenticate(alice)
    response = post_category(api, dataset, name)
    assert response.status_code == 400, response.content
    assert "blurry" in response.json()["name"][0].casefold()
    assert ErrorCategory.objects.filter(dataset=dataset, archived=False).count() == 2


def test_the_reason_names_the_existing_category(api, alice, dataset, blurry):
    api.force_authenticate(alice)
    response = post_category(api, dataset, f"Blurr{CYRILLIC_U}")
    assert response.json()["name"] == [
        f"“Blurr{CYRILLIC_U}” looks like the existing category “Blurry”."
    ]


@pytest.mark.parametrize("name", ["Blu\u200brry", "\u202eyrrulB", "Dark\u2066", "Da\u00adrk"])
def test_invisible_characters_are_refused(api, alice, dataset, name):
    api.force_authenticate(alice)
    response = post_category(api, dataset, name)
    assert response.status_code == 400
    assert "invisible or control characters" in response.json()["name"][0]


def test_a_rename_to_a_look_alike_is_refused_but_its_own_name_is_fine(api, alice, blurry, dark):
    api.force_authenticate(alice)
    url = f"/api/v1/categories/{dark.pk}/"
    response = api.patch(url, {"name": f"Blurr{CYRILLIC_U}"}, format="json")
    assert response.status_code == 400
    assert api.patch(url, {"name": "Dark"}, format="json").status_code == 200
    assert api.patch(url, {"name": "Very dark"}, format="json").status_code == 200


def test_distinct_names_still_work(api, alice, dataset, blurry):
    api.force_authenticate(alice)
    assert post_category(api, dataset, "Blurred background").status_code == 201
    assert post_category(api, dataset, "Café").status_code == 201


def test_a_category_description_is_capped(api, alice, dataset):
    api.force_authenticate(alice)
    response = api.post(
        "/api/v1/categories/",
        {"dataset": dataset.pk, "name": "Long", "description": "x" * 2001},
        format="json",
    )
    assert response.status_code == 400
    assert "2,000" in str(response.json()) or "2000" in str(response.json())


def test_a_saved_view_that_looks_like_another_is_refused(api, carol, run, errors):
    api.force_authenticate(carol)
    body = {"run": run.pk, "params": {}, "columns": []}
    assert api.post("/api/v1/views/", {**body, "name": "Cats"}, format="json").status_code == 201
    response = api.post("/api/v1/views/", {**body, "name": f"C{CYRILLIC_A}ts"}, format="json")
    assert response.status_code == 400
    assert "looks like the existing view of this run “Cats”" in response.json()["name"][0]
    assert SavedView.objects.filter(run=run).count() == 1


def test_a_review_name_is_normalised(api, alice, run, errors):
    api.force_authenticate(alice)
    response = api.post(
        "/api/v1/reviews/", {"run": run.pk, "name": "  First\u3000 pass "}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "First pass"
    response = api.post("/api/v1/reviews/", {"run": run.pk, "name": "Pass\u200b2"}, format="json")
    assert response.status_code == 400
