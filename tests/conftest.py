"""The usual cast, as in healthchecks' BaseTestCase: one project, one person per role,
and an outsider who belongs to another project."""

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
