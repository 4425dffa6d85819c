"""A small world for the tests that run the app as real server processes
(tests/security/test_redis_stopped.py, test_postgres_restarted.py): project cat-app with
alice (admin), bob (lead) and carol (annotator), each with an API token, a browser
session for carol, run resnet-1 of dataset pets with misclassified dev examples, and the
category Blurry.

In the test's own database, call `build()`. For a database of its own, run

    DJANGO_SETTINGS_MODULE=mlstrat.settings.local DATABASE_URL=... \\
        python -m tests.security.outage_world

which prints the same as JSON.
"""

import json

ERRORS = 6


def _session(user) -> str:
    """A logged-in browser session for `user`, as the login page would store it."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def build() -> dict:
    from django.conf import settings

    from mlstrat.accounts.models import Role
    from mlstrat.review.services import category_create
    from tests.factories import (
        DatasetFactory,
        MembershipFactory,
        ProjectFactory,
        RunFactory,
        UserFactory,
        api_token,
    )
    from tests.review.conftest import make_errors

    project = ProjectFactory(name="Cat app", slug="cat-app")
    people = {}
    for username, role in [("alice", Role.ADMIN), ("bob", Role.LEAD), ("carol", Role.ANNOTATOR)]:
        user = UserFactory(username=username)
        MembershipFactory(project=project, user=user, role=role)
        people[username] = user
    dataset = DatasetFactory(project=project, name="pets", class_names=["cat", "dog"])
    run = RunFactory(dataset=dataset, name="resnet-1")
    examples = [p.example.pk for p in make_errors(run, ERRORS)]
    blurry = category_create(dataset=dataset, name="Blurry", key="b", created_by=people["alice"])
    return {
        "project": project.slug,
        "run": run.pk,
        "examples": examples,
        "category": blurry.pk,
        "tokens": {name: api_token(u) for name, u in people.items()},
        "session_cookie": settings.SESSION_COOKIE_NAME,
        "carol_session": _session(people["carol"]),
    }


if __name__ == "__main__":
    import django

    django.setup()
    print(json.dumps(build()))
