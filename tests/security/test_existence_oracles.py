"""Existence oracles: to someone who may not see it, an object of another project answers
exactly as one that does not exist — same status, same body once the id is masked — for ids
and slugs in URLs, ids in bodies and queries, and usernames (members, annotators)."""

import json
import re

import pytest
from django.urls import reverse

from mlstrat.accounts.models import Project
from mlstrat.review.models import Review

from .routes import PARAM_MODELS, all_routes, model_for, url_for
from .world import build_world

MISSING_ID = 2_000_000_000
MISSING_SLUG = "no-such-project"
MISSING_USER = "nobody-at-all"
METHODS = ["get", "post", "put", "patch", "delete"]
WITH_OBJECTS = [r for r in all_routes() if not r.is_public and r.params]


@pytest.fixture
def ours(project, alice, bob, carol):
    return build_world(project=project, user=carol, marker="OURS")


@pytest.fixture
def theirs(other_project, mallory):
    return build_world(project=other_project, user=mallory, marker="THEIRS")


def _masked(response, secrets) -> tuple:
    body = response.content.decode(errors="replace")
    body = re.sub(r'(csrfmiddlewaretoken" value|csrf-token" content)="[^"]+"', "", body)
    for secret in sorted(secrets, key=lambda s: -len(str(s))):
        body = body.replace(str(secret), "<masked>")
    return response.status_code, response.get("Location", ""), body


def _missing_url(route, theirs) -> str:
    kwargs = {}
    for param in route.params:
        if param == "slug":
            kwargs[param] = MISSING_SLUG
        elif param == "username":
            kwargs[param] = MISSING_USER
        elif param == "kind":
            kwargs[param] = "sheet" if "export" in route.name else "image"
        elif param == "fmt":
            kwargs[param] = "csv"
        else:
            kwargs[param] = MISSING_ID
    return reverse(route.name, kwargs=kwargs)


def _secrets(route, theirs):
    found = {MISSING_ID, MISSING_SLUG, MISSING_USER, theirs.project.slug, "mallory"}
    for param in route.params:
        if param not in ("slug", "username", "kind", "fmt", "token"):
            found.add(theirs.of(model_for(route, param)).pk)
    return found


@pytest.mark.parametrize("route", WITH_OBJECTS, ids=lambda r: r.name)
def test_a_path_to_another_projects_object_answers_as_a_missing_one(
    client, route, ours, theirs, alice
):
    client.force_login(alice)
    real = url_for(route, theirs, username="mallory")
    missing = _missing_url(route, theirs)
    secrets = _secrets(route, theirs)
    for method in METHODS:
        kwargs = {} if method == "get" else {"data": "{}", "content_type": "application/json"}
        a = _masked(getattr(client, method)(real, **kwargs), secrets)
        b = _masked(getattr(client, method)(missing, **kwargs), secrets)
        assert a == b, (method, real, missing)


# Ids and slugs in API bodies and queries: (method, url, field).
BODY_FIELDS = [
    ("post", "/api/v1/reviews/", "run"),
    ("post", "/api/v1/categories/", "dataset"),
    ("post", "/api/v1/views/", "run"),
    ("post", "/api/v1/views/", "review"),
    ("post", "/api/v1/imports/", "project"),
    ("post", "/api/v1/import-uploads/", "project"),
    ("post", "/api/v1/label-corrections/", "example"),
    ("post", "/api/v1/label-corrections/", "run"),
    ("post", "/api/v1/label-checks/", "example"),
    ("post", "/api/v1/correct-samples/", "run"),
    ("post", "/api/v1/characteristic-reviews/", "dataset"),
    ("post", "/api/v1/synthesis-recipes/", "dataset"),
    ("post", "/api/v1/label-scores/compute/", "run"),
]
QUERY_FIELDS = [
    ("/api/v1/categories/", "dataset"),
    ("/api/v1/runs/", "dataset"),
    ("/api/v1/reviews/", "run"),
    ("/api/v1/views/", "run"),
    ("/api/v1/label-scores/", "run"),
    ("/api/v1/datasets/", "project__slug"),
]


def _value(field, theirs, real: bool):
    if field in ("project", "project__slug"):
        return theirs.project.slug if real else MISSING_SLUG
    model = PARAM_MODELS[field]
    return theirs.of(model).pk if real else MISSING_ID


def _body_secrets(theirs):
    return {MISSING_ID, MISSING_SLUG, theirs.project.slug} | {
        o.pk for o in theirs.objects.values() if isinstance(o.pk, int) and o.pk > 9
    }


@pytest.mark.parametrize(("method", "url", "field"), BODY_FIELDS, ids=lambda v: str(v))
def test_an_id_in_a_body_answers_as_a_missing_one(api, method, url, field, ours, theirs, alice):
    api.force_authenticate(alice)
    secrets = _body_secrets(theirs)
    answers = []
    for real in (True, False):
        body = {"name": "x", field: _value(field, theirs, real)}
        response = getattr(api, method)(url, json.dumps(body), content_type="application/json")
        answers.append(_masked(response, secrets))
    assert answers[0] == answers[1]
    assert answers[0][0] in (400, 404)


@pytest.mark.parametrize(("url", "field"), QUERY_FIELDS, ids=lambda v: str(v))
def test_an_id_in_a_query_answers_as_a_missing_one(api, url, field, ours, theirs, alice):
    api.force_authenticate(alice)
    secrets = _body_secrets(theirs)
    answers = [
        _masked(api.get(url, {field: _value(field, theirs, real)}), secrets)
        for real in (True, False)
    ]
    assert answers[0] == answers[1]


# ---------------------------------------------------------------- usernames


def _both(call, secrets):
    return [_masked(call(name), secrets) for name in ("mallory", MISSING_USER)]


def test_adding_a_member_does_not_tell_whether_an_account_exists(client, api, ours, theirs, alice):
    secrets = {"mallory", MISSING_USER}
    client.force_login(alice)
    url = f"/p/{ours.project.slug}/members/"
    a, b = _both(
        lambda n: client.post(url, {"username": n, "role": "annotator"}, follow=True), secrets
    )
    assert a == b
    api.force_authenticate(alice)
    url = f"/api/v1/projects/{ours.project.slug}/members/"
    a, b = _both(
        lambda n: api.post(url, {"username": n, "role": "annotator"}, format="json"), secrets
    )
    assert a == b and a[0] == 400


def test_removing_a_member_does_not_tell_whether_an_account_exists(
    client, api, ours, theirs, alice
):
    secrets = {"mallory", MISSING_USER}
    client.force_login(alice)
    slug = ours.project.slug
    a, b = _both(lambda n: client.post(f"/p/{slug}/members/{n}/remove/"), secrets)
    assert a == b
    api.force_authenticate(alice)
    a, b = _both(lambda n: api.delete(f"/api/v1/projects/{slug}/members/{n}/"), secrets)
    assert a == b


def test_review_annotators_do_not_tell_whether_an_account_exists(client, api, ours, theirs, alice):
    secrets = {"mallory", MISSING_USER}
    run = ours.of(Review).run
    api.force_authenticate(alice)
    a, b = _both(
        lambda n: api.post(
            "/api/v1/reviews/",
            {"run": run.pk, "name": "r", "assignment": "split", "annotators": [n]},
            format="json",
        ),
        secrets,
    )
    assert a == b and a[0] == 400
    client.force_login(alice)
    url = f"/p/{ours.project.slug}/runs/{run.pk}/reviews/"
    a, b = _both(
        lambda n: client.post(
            url, {"name": "r", "assignment": "split", "annotators": [n]}, follow=True
        ),
        secrets,
    )
    assert a == b


def test_an_invitation_answers_alike_whether_the_address_has_an_account(
    client, ours, theirs, alice
):
    theirs_email = "mallory@example.com"
    type(alice).objects.filter(username="mallory").update(email=theirs_email)
    client.force_login(alice)
    url = f"/p/{ours.project.slug}/invitations/"
    answers = []
    for email in (theirs_email, "nobody@example.com"):
        response = client.post(url, {"email": email, "role": "annotator"})
        answers.append((response.status_code, response["Location"]))
    assert answers[0] == answers[1]
    assert Project.objects.get(pk=ours.project.pk).invitations.count() >= 2
