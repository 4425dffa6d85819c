from mlstrat.review.models import ErrorCategory, Tag
from mlstrat.review.services import tag_set


def test_a_lead_adds_a_category(api, bob, dataset):
    api.force_authenticate(bob)
    response = api.post(
        "/api/v1/categories/",
        {"dataset": dataset.pk, "name": "Blurry", "key": "B", "color": "#112233"},
        format="json",
    )
    assert response.status_code == 201, response.content
    category = ErrorCategory.objects.get(name="Blurry")
    assert (category.key, category.color, category.created_by) == ("b", "#112233", bob)
    assert category.order > dataset.categories.get(builtin="incorrect_label").order


def test_an_annotator_adds_but_cannot_manage_categories(api, carol, dataset, blurry):
    api.force_authenticate(carol)
    assert (
        api.post(
            "/api/v1/categories/", {"dataset": dataset.pk, "name": "X"}, format="json"
        ).status_code
        == 201
    )
    assert (
        api.patch(f"/api/v1/categories/{blurry.pk}/", {"name": "Y"}, format="json").status_code
        == 403
    )
    assert (
        api.post(
            "/api/v1/categories/reorder/",
            {"dataset": dataset.pk, "order": [blurry.pk]},
            format="json",
        ).status_code
        == 403
    )
    assert api.get(f"/api/v1/categories/?dataset={dataset.pk}").status_code == 200


def test_outsiders_get_404(api, mallory, dataset, blurry):
    api.force_authenticate(mallory)
    assert api.get(f"/api/v1/categories/{blurry.pk}/").status_code == 404
    assert (
        api.patch(f"/api/v1/categories/{blurry.pk}/", {"name": "Y"}, format="json").status_code
        == 404
    )
    assert (
        api.post(
            "/api/v1/categories/", {"dataset": dataset.pk, "name": "X"}, format="json"
        ).status_code
        == 404
    )


def test_duplicate_names_and_keys_are_explained(api, bob, dataset, blurry):
    api.force_authenticate(bob)
    response = api.post(
        "/api/v1/categories/", {"dataset": dataset.pk, "name": "blurry"}, format="json"
    )
    assert response.status_code == 400 and "already" in str(response.json())
    response = api.post(
        "/api/v1/categories/", {"dataset": dataset.pk, "name": "Big", "key": "b"}, format="json"
    )
    assert response.status_code == 400 and "taken" in str(response.json())
    response = api.post(
        "/api/v1/categories/", {"dataset": dataset.pk, "name": "Jumpy", "key": "j"}, format="json"
    )
    assert response.status_code == 400 and "shortcut" in str(response.json())
    response = api.post(
        "/api/v1/categories/", {"dataset": dataset.pk, "name": "Red", "color": "red"}, format="json"
    )
    assert response.status_code == 400


def test_rename_and_archive_keep_the_ticks(api, bob, carol, run, errors, blurry):
    tag_set(run=run, example=errors[0].example, category=blurry, user=carol)
    api.force_authenticate(bob)
    url = f"/api/v1/categories/{blurry.pk}/"
    assert api.patch(url, {"name": "Out of focus"}, format="json").json()["name"] == "Out of focus"
    assert api.patch(url, {"archived": True}, format="json").json()["archived"] is True
    assert Tag.objects.filter(category=blurry).count() == 1
    assert api.patch(url, {"archived": False}, format="json").json()["archived"] is False
    assert (
        api.patch(url, {"builtin": "x", "dataset": 5, "frobnicate": 1}, format="json").status_code
        == 400
    )


def test_the_builtin_cannot_be_archived(api, bob, incorrect):
    api.force_authenticate(bob)
    response = api.patch(f"/api/v1/categories/{incorrect.pk}/", {"archived": True}, format="json")
    assert response.status_code == 400


def test_a_lead_reorders_the_columns(api, bob, dataset, blurry, dark, incorrect):
    api.force_authenticate(bob)
    response = api.post(
        "/api/v1/categories/reorder/",
        {"dataset": dataset.pk, "order": [dark.pk, blurry.pk]},
        format="json",
    )
    assert response.status_code == 200
    assert [c["name"] for c in response.json()] == ["Dark", "Blurry", "Incorrectly labeled"]
    bad = api.post(
        "/api/v1/categories/reorder/", {"dataset": dataset.pk, "order": [999]}, format="json"
    )
    assert bad.status_code == 400
