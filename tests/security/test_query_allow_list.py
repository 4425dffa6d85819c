"""Filters and ordering take only an allow-list of keys: a relation-walking key such as
`updated_by__password__startswith` (Label Studio CVE-2023-47117) answers 400 naming the
key, on every GET route of every API viewset (collected from the URL conf)."""

import pytest
from rest_framework.generics import GenericAPIView

from mlstrat.api.filters import StrictFilterBackend, StrictQueryParams
from mlstrat.datasets.models import Dataset, Example, ModelRun
from mlstrat.review.models import Review

from .routes import all_routes, url_for
from .world import build_world

HOSTILE = [
    ("updated_by__password__startswith", "a"),
    ("proposed_by__password__startswith", "a"),
    ("user__password", "x"),
    ("created_by__password__startswith", "pbkdf2"),
    ("dataset__project__memberships__user__password__startswith", "a"),
]


# Not data: the OpenAPI schema and its docs page take drf-spectacular's own parameters.
NOT_DATA = {"api-schema", "api-docs"}


def _get_routes():
    """Every API route that answers GET: viewset lists, details and actions, plain API
    views and function views."""
    for route in all_routes():
        cls = getattr(route.callback, "cls", None)
        if not route.is_api or cls is None or route.name in NOT_DATA:
            continue
        actions = getattr(route.callback, "actions", None)
        if "get" in actions if actions is not None else hasattr(cls, "get"):
            yield route


GET_ROUTES = list(_get_routes())


@pytest.fixture
def ours(project, alice, bob, carol):
    return build_world(project=project, user=alice, marker="OURS")


def test_every_api_view_checks_its_query_keys():
    names = {r.name for r in GET_ROUTES}
    assert names >= {"api-run-sheet", "api-example-detail", "api-run-figures", "review-rows"}
    for route in GET_ROUTES:
        cls = route.callback.cls
        if "WrappedAPIView" in cls.__qualname__:
            continue  # a function view: `allow_query_params`, proven by the tests below
        assert issubclass(cls, StrictQueryParams), route.name
        if issubclass(cls, GenericAPIView):
            backends = cls.filter_backends
            assert any(issubclass(b, StrictFilterBackend) for b in backends), route.name


@pytest.mark.parametrize("route", GET_ROUTES, ids=lambda r: r.name)
@pytest.mark.parametrize(("key", "value"), HOSTILE, ids=[k for k, _ in HOSTILE])
def test_a_relation_walking_filter_key_gets_400(api, route, key, value, ours, alice):
    api.force_authenticate(alice)
    response = api.get(url_for(route, ours, username="alice"), {key: value})
    assert response.status_code == 400, (route.name, response.status_code)
    assert key in response.json()


@pytest.mark.parametrize("route", GET_ROUTES, ids=lambda r: r.name)
def test_ordering_by_a_password_gets_400(api, route, ours, alice):
    api.force_authenticate(alice)
    response = api.get(url_for(route, ours, username="alice"), {"ordering": "user__password"})
    assert response.status_code == 400, (route.name, response.status_code)
    assert "Cannot order by 'user__password'" in str(response.json()["ordering"])


def test_declared_filters_and_paging_still_work(api, ours, alice):
    api.force_authenticate(alice)
    dataset = ours.of(Dataset)
    response = api.get("/api/v1/examples/", {"dataset": dataset.pk, "page_size": 5})
    assert response.status_code == 200
    assert [row["example_id"] for row in response.json()["results"]] == ["OURS-ex"]
    response = api.get("/api/v1/runs/", {"dataset": dataset.pk, "format": "json", "page": 1})
    assert response.status_code == 200
    assert [run["name"] for run in response.json()["results"]] == ["OURS-run"]


def test_documented_extra_params_are_accepted(api, ours, alice):
    api.force_authenticate(alice)
    review = ours.of(Review)
    response = api.get(
        f"/api/v1/reviews/{review.pk}/rows/", {"label": "cat", "sort": "confidence", "view": "team"}
    )
    assert response.status_code == 200
    run = ours.of(ModelRun)
    response = api.get("/api/v1/label-scores/", {"run": run.pk, "method": "margin"})
    assert response.status_code == 200
    response = api.get(
        f"/api/v1/runs/{run.pk}/changes/", {"since": 0, "comments_since": 0, "split": "dev"}
    )
    assert response.status_code == 200
    response = api.get(f"/api/v1/runs/{run.pk}/sheet/", {"split": "dev", "sort": "-confidence"})
    assert response.status_code == 200
    response = api.get(f"/api/v1/analytics/runs/{run.pk}/", {"rule": "any"})
    assert response.status_code == 200
    response = api.get("/api/v1/label-balance/", {"dataset": ours.of(Dataset).pk})
    assert response.status_code == 200
    example = ours.of(Example)
    response = api.get(
        "/api/v1/label-scores/", {"run": run.pk, "example": example.pk, "secret__password": "a"}
    )
    assert response.status_code == 400
    assert "secret__password" in response.json()


def test_the_error_names_what_is_accepted(api, ours, alice):
    api.force_authenticate(alice)
    response = api.get("/api/v1/label-corrections/", {"proposed_by__password__startswith": "a"})
    assert response.status_code == 400
    message = response.json()["proposed_by__password__startswith"][0]
    assert message.startswith("Unknown query parameter; this endpoint accepts:")
    assert "status" in message and "example__dataset" in message
