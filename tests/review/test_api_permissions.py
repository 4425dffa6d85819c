"""Every per-run endpoint of the sheet: outsiders get 404, members get in."""

import pytest

from mlstrat.review.services import review_create

ENDPOINTS = [
    "/api/v1/runs/{run}/sheet/",
    "/api/v1/runs/{run}/changes/",
    "/api/v1/runs/{run}/agreement/",
    "/api/v1/runs/{run}/comments/",
    "/api/v1/runs/{run}/examples/{example}/",
    "/api/v1/reviews/{review}/",
    "/api/v1/reviews/{review}/rows/",
    "/api/v1/reviews/{review}/agreement/",
]


@pytest.fixture
def urls(run, errors, alice):
    review = review_create(run=run, created_by=alice, name="x", sample_size=3, seed=1)
    values = {"run": run.pk, "example": errors[0].example.pk, "review": review.pk}
    return [url.format(**values) for url in ENDPOINTS]


def test_members_of_every_role_can_read(api, urls, alice, bob, carol):
    for user in (alice, bob, carol):
        api.force_authenticate(user)
        for url in urls:
            assert api.get(url).status_code == 200, url


def test_outsiders_get_404_everywhere(api, urls, mallory):
    api.force_authenticate(mallory)
    for url in urls:
        assert api.get(url).status_code == 404, url


def test_anonymous_callers_are_refused(api, urls):
    for url in urls:
        assert api.get(url).status_code in (401, 403), url


def test_a_staging_run_is_not_found(api, carol, run, errors):
    run.status = "staging"
    run.save()
    api.force_authenticate(carol)
    assert api.get(f"/api/v1/runs/{run.pk}/sheet/").status_code == 404
