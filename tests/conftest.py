"""The usual cast, as in healthchecks' BaseTestCase: one project, one person per role,
and an outsider who belongs to another project."""

import logging

import pytest
from rest_framework.test import APIClient

from mlstrat.accounts.models import Role
from mlstrat.datasets import staleness

from .factories import MembershipFactory, ProjectFactory, UserFactory


@pytest.fixture(autouse=True)
def _broker_backoff_forgotten(monkeypatch):
    """Each test starts with the broker presumed up (a test that took it down leaves the
    process-wide backoff behind)."""
    monkeypatch.setattr(staleness, "_broker_down_until", 0.0)


class _Tracebacks(logging.Handler):
    """Collects what Django logs for a request that raised: an ERROR with its exc_info."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.records = []

    def emit(self, record):
        if record.exc_info:
            self.records.append(record)


@pytest.fixture(autouse=True)
def _no_unhandled_traceback_in_the_server_log(request):
    """Whatever a test sends, the server log (django.request) holds no unhandled traceback:
    a 500 hidden behind a test that only looked at something else fails here. A test that
    breaks a request on purpose says so with @pytest.mark.server_errors_expected."""
    handler = _Tracebacks()
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    yield
    logger.removeHandler(handler)
    if handler.records and not request.node.get_closest_marker("server_errors_expected"):
        formatter = logging.Formatter("%(message)s")
        logged = "\n\n".join(formatter.format(r) for r in handler.records)
        pytest.fail(f"The server log holds unhandled tracebacks:\n{logged}", pytrace=False)


@pytest.fixture
def project(db):
    return ProjectFactory(name="Cat app", slug="cat-app")


@pytest.fixture
def other_project(db):
    return ProjectFactory(name="Other team", slug="other-team")


@pytest.fixture
def alice(project):
    """Admin of `project`."""
    return MembershipFactory(
        project=project, user=UserFactory(username="alice"), role=Role.ADMIN
    ).user


@pytest.fixture
def bob(project):
    """Lead of `project`."""
    return MembershipFactory(project=project, user=UserFactory(username="bob"), role=Role.LEAD).user


@pytest.fixture
def carol(project):
    """Annotator of `project`."""
    return MembershipFactory(
        project=project, user=UserFactory(username="carol"), role=Role.ANNOTATOR
    ).user


@pytest.fixture
def mallory(other_project):
    """Admin of another project; member of nothing of ours."""
    return MembershipFactory(
        project=other_project, user=UserFactory(username="mallory"), role=Role.ADMIN
    ).user


@pytest.fixture
def api():
    """An API client; `api.force_authenticate(user)` to act as someone."""
    return APIClient()


def login(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def as_user(client):
    def _as(user):
        client.force_login(user)
        return client

    return _as
