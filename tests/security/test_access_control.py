"""Table-driven access control over every route of the URL conf.

- Other projects' objects give 404 and stay unchanged, whatever the method.
- Anonymous callers are sent to log in (pages) or refused (API).
- A role that may not act gets 403, and nothing changes.
- Nothing answers 500.
"""

import pytest

from mlstrat.accounts.models import Role

from .routes import all_routes, url_for
from .world import build_world, fingerprint

METHODS = ["get", "post", "patch", "delete"]
ROUTES = all_routes()
PRIVATE = [r for r in ROUTES if not r.is_public]
WITH_OBJECTS = [r for r in PRIVATE if r.params]

# Writes that need more than the annotator role: (route name, method) -> role.
WRITE_ROLES = {
    ("project-members", "post"): Role.ADMIN,
    ("project-member-remove", "post"): Role.ADMIN,
    ("project-invitation-create", "post"): Role.ADMIN,
    ("api-project-remove-member", "delete"): Role.ADMIN,
    ("api-project-members", "post"): Role.ADMIN,
    ("dataset-detail", "patch"): Role.LEAD,
    ("run-detail", "patch"): Role.ADMIN,
    ("project-member-tokens-revoke", "post"): Role.ADMIN,
    ("api-project-member-tokens", "get"): Role.ADMIN,
    ("api-project-member-tokens", "delete"): Role.ADMIN,
    ("api-project-member-token-revoke", "delete"): Role.ADMIN,
}


@pytest.fixture
def ours(project, alice, bob, carol):
    return build_world(project=project, user=carol, marker="OURS")


@pytest.fixture
def theirs(other_project, mallory):
    return build_world(project=other_project, user=mallory, marker="THEIRS")


def call(client, method, url, is_api):
    kwargs = {"content_type": "application/json", "data": "{}"} if method != "get" else {}
    return getattr(client, method)(url, **kwargs)


@pytest.mark.parametrize("route", WITH_OBJECTS, ids=lambda r: r.name)
def test_other_projects_objects_are_not_found(client, route, ours, theirs, alice):
    client.force_login(alice)  # admin of our project: the strongest outsider to theirs
    url = url_for(route, theirs, username="mallory")
    before = fingerprint(theirs)
    for method in METHODS:
        response = call(client, method, url, route.is_api)
        assert response.status_code in (404, 405), (method, url, response.status_code)
    assert fingerprint(theirs) == before


@pytest.mark.parametrize("route", PRIVATE, ids=lambda r: r.name)
def test_anonymous_is_sent_to_log_in(client, route, ours):
    url = url_for(route, ours, username="carol")
    before = fingerprint(ours)
    for method in METHODS:
        response = call(client, method, url, route.is_api)
        if route.is_api:
            assert response.status_code in (401, 403, 405), (method, url, response.status_code)
        else:
            assert response.status_code in (302, 405), (method, url, response.status_code)
            if response.status_code == 302:
                assert response["Location"].startswith("/login/")
    assert fingerprint(ours) == before


@pytest.mark.parametrize(
    ("name", "method", "role"), [(n, m, r) for (n, m), r in WRITE_ROLES.items()]
)
def test_roles_below_the_required_one_get_403(client, name, method, role, ours, alice, bob, carol):
    route = next(r for r in ROUTES if r.name == name)
    url = url_for(route, ours, username="carol")
    below = {Role.ADMIN: [bob, carol], Role.LEAD: [carol]}[role]
    before = fingerprint(ours)
    for user in below:
        client.force_login(user)
        response = call(client, method, url, route.is_api)
        assert response.status_code == 403, (user.username, method, url, response.status_code)
    assert fingerprint(ours) == before


@pytest.mark.parametrize("route", PRIVATE, ids=lambda r: r.name)
def test_no_route_answers_500_to_an_empty_request(client, route, ours, carol):
    client.force_login(carol)
    url = url_for(route, ours, username="carol")
    for method in METHODS:
        response = call(client, method, url, route.is_api)
        assert response.status_code < 500, (method, url, response.status_code)


def test_write_roles_name_real_routes():
    names = {r.name for r in ROUTES}
    assert {name for name, _ in WRITE_ROLES} <= names
