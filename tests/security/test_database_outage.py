"""PostgreSQL drops every connection of the app (as a restart or failover does) while
people tick and browse: requests in flight answer 503 with a reason (never a 500, never
a hang), and the next ones succeed without restarting the app.

The shared server is not restarted: a second connection terminates the app's backends.
Requests go through Django's real WSGI handler in threads with persistent connections
(CONN_MAX_AGE, CONN_HEALTH_CHECKS), as in a threaded server.
"""

import json
import random
import threading
import time

import psycopg2
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test import Client, RequestFactory

from mlstrat.review.models import Tag, TagEvent
from mlstrat.review.services import category_create
from tests.factories import DatasetFactory, RunFactory, api_token
from tests.review.conftest import make_errors
from tests.review.test_tag_concurrency import replay
from tests.services import require_postgresql

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8
KILLS_AT = (1.0, 2.0, 3.0)  # seconds after the start
QUIET = 2.0  # seconds of normal service after the last kill
SLOW = 5.0  # no request may take longer than this


class WsgiClient:
    """Calls the real WSGI handler (request_started/finished signals and all)."""

    factory = RequestFactory()

    def __init__(self, **headers):
        self.handler = WSGIHandler()
        self.headers = headers

    def __call__(self, method, path, body=None):
        kwargs = dict(self.headers)
        if body is not None:
            kwargs.update(data=json.dumps(body), content_type="application/json")
        environ = getattr(self.factory, method)(path, **kwargs).environ
        status = []
        response = self.handler(environ, lambda s, h, exc_info=None: status.append(s))
        try:
            content = b"".join(response)
        finally:
            response.close()  # request_finished: drops a broken connection
        return int(status[0].split()[0]), dict(response.items()), content


def terminate_app_connections(keep_pid):
    """What a restart does to the app: every backend of its database is gone."""
    settings = connection.settings_dict
    killer = psycopg2.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        password=settings["PASSWORD"] or None,
    )
    killer.autocommit = True
    with killer.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND pid <> %s",
            [keep_pid],
        )
        (killed,) = cursor.fetchone()
    killer.close()
    return killed


@pytest.fixture
def sheet(project, alice, carol):
    dataset = DatasetFactory(project=project, name="pets", class_names=["cat", "dog"])
    run = RunFactory(dataset=dataset, name="resnet-1")
    examples = [p.example for p in make_errors(run, 6)]
    blurry = category_create(dataset=dataset, name="Blurry", key="b", created_by=alice)
    return run, examples, blurry


def test_requests_fail_cleanly_while_the_database_is_gone_and_succeed_after(project, carol, sheet):
    require_postgresql("Terminating backends")
    run, examples, blurry = sheet
    token = api_token(carol)
    browser = Client()
    browser.force_login(carol)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (own_pid,) = cursor.fetchone()

    results = []  # (started, seconds, method, path, status, headers, body)
    lock = threading.Lock()
    started_at = time.monotonic()
    stop_at = started_at + KILLS_AT[-1] + QUIET

    def client_loop(index):
        api = WsgiClient(HTTP_AUTHORIZATION=f"Token {token}")
        page = WsgiClient(HTTP_COOKIE=cookie)
        rnd = random.Random(index)
        try:
            while time.monotonic() < stop_at:
                example = rnd.choice(examples)
                tick = f"/api/v1/runs/{run.pk}/examples/{example.pk}/tags/{blurry.pk}/"
                method, path, client = rnd.choice(
                    [
                        ("put", tick, api),
                        ("delete", tick, api),
                        ("get", f"/api/v1/runs/{run.pk}/sheet/", api),
                        ("get", f"/p/{project.slug}/runs/{run.pk}/sheet/", page),
                    ]
                )
                began = time.monotonic()
                status, headers, body = client(method, path)
                with lock:
                    results.append(
                        (began, time.monotonic() - began, method, path, status, headers, body)
                    )
        finally:
            connection.close()

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    killed = 0
    for at in KILLS_AT:
        time.sleep(max(0.0, started_at + at - time.monotonic()))
        killed += terminate_app_connections(own_pid)
    last_kill = time.monotonic()
    for thread in threads:
        thread.join()

    assert killed >= THREADS, "the app's connections were not terminated"
    assert {r[4] for r in results} <= {200, 503}, sorted({(r[4], r[3]) for r in results})
    refused = [r for r in results if r[4] == 503]
    assert refused, "no request was in flight when the connections were dropped"
    for _, _, _, path, _, headers, body in refused:
        assert headers["Retry-After"]
        assert b"database is unavailable" in body
        if path.startswith("/api/"):
            assert "try again" in json.loads(body)["detail"]
    assert max(r[1] for r in results) < SLOW
    # Afterwards the app serves again, on new connections, without a restart.
    after = [r for r in results if r[0] > last_kill + 0.3]
    assert len(after) > THREADS
    assert {r[4] for r in after} == {200}
    # A request cut off mid-write left nothing half-done: ticks equal the audit log.
    expected, wrong_changed = replay(TagEvent.objects.filter(run=run).order_by("id"))
    ticks = set(Tag.objects.filter(run=run).values_list("run", "example", "category", "user"))
    assert ticks == expected and wrong_changed == []
