"""Saved views: a named filter + sort + columns of the sheet, shared with the project,
listed on the run's page, through the API too."""

import pytest

from mlstrat.review.models import SavedView
from mlstrat.review.services import review_create, saved_view_create

from .conftest import make_errors


@pytest.fixture
def review(run, bob):
    make_errors(run, 5)
    return review_create(run=run, created_by=bob, name="First pass", sample_size=5, seed=1)


def post_view(api, run, **body):
    return api.post("/api/v1/views/", {"run": run.pk, **body}, format="json")


def test_an_annotator_saves_a_view_the_team_sees(api, carol, bob, run, blurry, dark, errors):
    api.force_authenticate(carol)
    response = post_view(
        api,
        run,
        name="Blurry cats, least sure first",
        params={"label": "cat", "category": str(blurry.pk), "sort": "confidence"},
        columns=[dark.pk, blurry.pk],
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created_by"] == "carol"
    assert body["url"] == (
        f"/p/cat-app/runs/{run.pk}/sheet/?label=cat&category={blurry.pk}&sort=confidence"
        f"&cols={dark.pk}%2C{blurry.pk}"
    )
    api.force_authenticate(bob)
    listed = api.get(f"/api/v1/views/?run={run.pk}").json()
    assert [v["name"] for v in listed["results"]] == ["Blurry cats, least sure first"]


def test_a_view_of_a_review_opens_that_reviews_sheet_or_gallery(api, carol, run, review):
    api.force_authenticate(carol)
    body = post_view(api, run, review=review.pk, name="Mine", params={"layout": "gallery"}).json()
    assert body["url"] == f"/p/cat-app/runs/{run.pk}/reviews/{review.pk}/gallery/"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": ""}, "name"),
        ({"name": "x", "params": {"after": "12"}}, "params"),
        ({"name": "x", "params": {"sort": "sideways"}}, "params"),
        ({"name": "x", "params": {"layout": "carousel"}}, "params"),
        ({"name": "x", "columns": ["b"]}, "columns"),
        ({"name": "x", "columns": [999999]}, "columns"),
        ({"name": "x", "params": ["label"]}, "params"),
    ],
)
def test_bad_views_are_explained(api, carol, run, body, field):
    api.force_authenticate(carol)
    response = post_view(api, run, **body)
    assert response.status_code == 400 and field in response.json(), response.content


def test_names_are_unique_per_run(api, carol, run):
    api.force_authenticate(carol)
    assert post_view(api, run, name="Dogs").status_code == 201
    response = post_view(api, run, name="dogs")
    assert response.status_code == 400 and "already" in str(response.json())


def test_only_its_author_or_a_lead_deletes_a_view(api, alice, bob, carol, project, run):
    from tests.factories import MembershipFactory, UserFactory

    dave = MembershipFactory(project=project, user=UserFactory(username="dave")).user
    view = saved_view_create(run=run, review=None, name="v", params={}, columns=[], user=carol)
    api.force_authenticate(dave)
    assert api.delete(f"/api/v1/views/{view.pk}/").status_code == 403
    api.force_authenticate(carol)
    assert api.delete(f"/api/v1/views/{view.pk}/").status_code == 204
    view = saved_view_create(run=run, review=None, name="w", params={}, columns=[], user=carol)
    api.force_authenticate(bob)
    assert api.delete(f"/api/v1/views/{view.pk}/").status_code == 204
    assert not SavedView.objects.exists()


def test_outsiders_see_nothing(api, mallory, carol, run):
    view = saved_view_create(run=run, review=None, name="v", params={}, columns=[], user=carol)
    api.force_authenticate(mallory)
    assert api.get(f"/api/v1/views/{view.pk}/").status_code == 404
    assert api.get(f"/api/v1/views/?run={run.pk}").json()["results"] == []
    assert post_view(api, run, name="mine now").status_code == 404
    assert api.delete(f"/api/v1/views/{view.pk}/").status_code == 404


def test_the_run_page_lists_the_views(client, carol, bob, run, blurry):
    saved_view_create(
        run=run,
        review=None,
        name="Blurry ones",
        params={"category": str(blurry.pk)},
        columns=[],
        user=bob,
    )
    client.force_login(carol)
    page = client.get(f"/p/cat-app/runs/{run.pk}/reviews/").content.decode()
    assert "Blurry ones" in page and f"?category={blurry.pk}" in page
    assert "/delete/" not in page  # not hers to delete
    client.force_login(bob)
    page = client.get(f"/p/cat-app/runs/{run.pk}/reviews/").content.decode()
    assert "Delete this view" in page


def test_deleting_from_the_run_page(client, bob, run):
    view = saved_view_create(run=run, review=None, name="v", params={}, columns=[], user=bob)
    client.force_login(bob)
    response = client.post(f"/p/cat-app/runs/{run.pk}/views/{view.pk}/delete/")
    assert response.status_code == 302
    assert not SavedView.objects.exists()
