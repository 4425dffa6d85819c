"""Many people tick and untick the same examples at the same moment (PostgreSQL).

Afterwards the ticks in the database are exactly what replaying the audit log gives,
every answered request wrote exactly one audit row, and nothing answered 5xx.
Two clients share each account (two browser tabs), so the same tick races itself.
`TAG_CONCURRENCY_SECONDS` lengthens the run; bench/tag_concurrency.py is the 60 s version.
"""

import os
import random
import threading
import time
from collections import Counter

import pytest
from django.db import connection
from rest_framework.test import APIClient

from mlstrat.accounts.models import Role
from mlstrat.review.models import Tag, TagEvent
from tests.factories import MembershipFactory, UserFactory
from tests.services import require_postgresql

from .conftest import make_errors

pytestmark = pytest.mark.django_db(transaction=True)

CLIENTS = 20
ACCOUNTS = 10
SECONDS = float(os.environ.get("TAG_CONCURRENCY_SECONDS", "10"))


def replay(events):
    """The ticks the audit log describes: the last action per tick wins, in id order.
    Also checks each event's `changed` against the state before it."""
    state, wrong_changed = {}, []
    for event in events:
        key = (event.run_id, event.example_id, event.category_id, event.user_id)
        before = state.get(key, False)
        after = event.action == "set"
        if event.changed != (before != after):
            wrong_changed.append(event.pk)
        state[key] = after
    return {key for key, on in state.items() if on}, wrong_changed


def hammer(*, run, examples, categories, users, seconds):
    """CLIENTS threads, each with its own connection, send single ticks for `seconds`.
    Returns (2xx count per user id, Counter of every status)."""
    ok = Counter()
    statuses = Counter()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    start = threading.Barrier(CLIENTS)

    def client_loop(index):
        user = users[index % len(users)]
        api = APIClient()
        api.force_authenticate(user)
        rnd = random.Random(index)
        try:
            start.wait()
            while time.monotonic() < deadline:
                example = rnd.choice(examples)
                category = rnd.choice(categories)
                verb = rnd.choice(["put", "delete", "set", "clear"])
                if verb in ("put", "delete"):
                    url = f"/api/v1/runs/{run.pk}/examples/{example.pk}/tags/{category.pk}/"
                    response = getattr(api, verb)(url)
                else:
                    body = {"action": verb, "category": category.pk, "example": example.pk}
                    response = api.post(f"/api/v1/runs/{run.pk}/tags/", body, format="json")
                with lock:
                    statuses[response.status_code] += 1
                    if 200 <= response.status_code < 300:
                        ok[user.pk] += 1
        finally:
            connection.close()

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ok, statuses


def annotators(project, n):
    return [
        MembershipFactory(
            project=project, user=UserFactory(username=f"annotator{i}"), role=Role.ANNOTATOR
        ).user
        for i in range(n)
    ]


def test_twenty_people_ticking_the_same_examples_lose_nothing(project, run, blurry, dark):
    require_postgresql("Concurrent writers")
    examples = [p.example for p in make_errors(run, 4)]
    users = annotators(project, ACCOUNTS)

    ok, statuses = hammer(
        run=run, examples=examples, categories=[blurry, dark], users=users, seconds=SECONDS
    )

    assert sum(statuses.values()) > CLIENTS * 5, statuses
    assert set(statuses) == {200}, statuses
    events = list(TagEvent.objects.filter(run=run).order_by("id"))
    # Every answered tick wrote exactly one audit row, per person.
    assert Counter(e.user_id for e in events) == ok
    expected, wrong_changed = replay(events)
    ticks = list(Tag.objects.filter(run=run).values_list("run", "example", "category", "user"))
    assert len(ticks) == len(set(ticks))
    assert set(ticks) == expected
    assert wrong_changed == []


def test_a_retried_tick_applies_once(api, project, run, blurry):
    require_postgresql("Concurrent writers")
    example = make_errors(run, 1)[0].example
    (user,) = annotators(project, 1)
    api.force_authenticate(user)
    url = f"/api/v1/runs/{run.pk}/examples/{example.pk}/tags/{blurry.pk}/"
    assert api.put(url).json() == {"ticked": True, "changed": True}
    assert api.put(url).json() == {"ticked": True, "changed": False}
    assert Tag.objects.filter(run=run, user=user).count() == 1
    assert list(TagEvent.objects.filter(user=user).values_list("changed", flat=True)) == [
        True,
        False,
    ]
