"""PostgreSQL really stops and starts again while people tick and browse: requests answer
503 with a reason while it is down (never a 500, never a hang) and succeed after it is
back, without restarting the app; no tick is half-done.

The app runs under gunicorn (production-like: persistent connections with health checks)
against a private PostgreSQL cluster (tests/services.py), so the shared server other
suites use stays up. tests/security/test_database_outage.py simulates the same in
process by terminating backends.
"""

import json
import random
import subprocess
import sys
import threading
import time
from collections import namedtuple
from contextlib import contextmanager

import pytest
import requests

from tests.review.test_tag_concurrency import replay
from tests.services import (  # noqa: F401  (fixtures)
    ROOT,
    app_env,
    private_postgres,
    web_server,
)

pytestmark = pytest.mark.worker  # starts real server processes

THREADS = 8
BEFORE = 2.0  # seconds of normal service before PostgreSQL stops
DOWN = 3.0  # seconds it stays down
AFTER = 4.0  # seconds of service after it is back
SETTLE = 0.5  # requests started this long after the restart must all succeed
SLOW = 10.0  # no request may take longer than this

Result = namedtuple("Result", "began seconds method path status retry_after body")
Event = namedtuple("Event", "pk run_id example_id category_id user_id action changed")


def manage(env, *args, timeout=300) -> str:
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.fixture
def app(private_postgres, web_server, tmp_path):  # noqa: F811
    """gunicorn on a migrated private database holding tests/security/outage_world.py."""
    env = app_env(
        database_url=private_postgres.create_database("mlstrat"),
        # No worker: the recomputes that ticks ask for wait in memory and never run.
        broker_url="memory://",
        media_root=tmp_path / "media",
    )
    manage(env, "manage.py", "migrate", "--noinput")
    world = json.loads(manage(env, "-m", "tests.security.outage_world").splitlines()[-1])
    return web_server(env), world


@contextmanager
def people_at_work(*, server, world):
    """THREADS people tick (PUT/DELETE), read the rows API and open the sheet page, each on
    a keep-alive connection, until the block ends; yields their results as they come."""
    run, category = world["run"], world["category"]
    results = []
    lock = threading.Lock()
    stop = threading.Event()

    def person(index):
        rnd = random.Random(index)
        http = requests.Session()
        http.headers["Authorization"] = f"Token {world['tokens']['carol']}"
        page = {world["session_cookie"]: world["carol_session"]}
        while not stop.is_set():
            example = rnd.choice(world["examples"])
            tick = f"/api/v1/runs/{run}/examples/{example}/tags/{category}/"
            method, path, cookies = rnd.choice(
                [
                    ("PUT", tick, None),
                    ("DELETE", tick, None),
                    ("GET", f"/api/v1/runs/{run}/sheet/", None),
                    ("GET", f"/p/{world['project']}/runs/{run}/sheet/", page),
                ]
            )
            began = time.monotonic()
            try:
                response = http.request(
                    method, server.url + path, cookies=cookies, timeout=(5, SLOW + 5)
                )
                status, body = response.status_code, response.text
                retry_after = response.headers.get("Retry-After")
            except requests.RequestException as exc:  # a hang or a dropped connection
                status, body, retry_after = 0, repr(exc), None
            result = Result(
                began, time.monotonic() - began, method, path, status, retry_after, body
            )
            with lock:
                results.append(result)

    threads = [threading.Thread(target=person, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    try:
        yield results
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def ticks_and_audit_log(cluster, run_id):
    with cluster.connect("mlstrat") as db, db.cursor() as cursor:
        cursor.execute(
            "SELECT run_id, example_id, category_id, user_id FROM review_tag WHERE run_id = %s",
            [run_id],
        )
        ticks = set(cursor.fetchall())
        cursor.execute(
            "SELECT id, run_id, example_id, category_id, user_id, action, changed "
            "FROM review_tagevent WHERE run_id = %s ORDER BY id",
            [run_id],
        )
        events = [Event(*row) for row in cursor.fetchall()]
    db.close()
    return ticks, events


def test_requests_fail_cleanly_while_postgres_restarts_and_succeed_after(
    app,
    private_postgres,  # noqa: F811
):
    server, world = app
    workers_before = server.worker_pids()
    with people_at_work(server=server, world=world) as results:
        time.sleep(BEFORE)  # normal service
        private_postgres.stop(mode="fast")
        stopped_at = time.monotonic()
        time.sleep(DOWN)  # the outage people live through
        private_postgres.start()
        restarted_at = time.monotonic()
        time.sleep(AFTER)

    unexpected = [
        (r.status, r.method, r.path, r.body[:300]) for r in results if r.status not in (200, 503)
    ]
    assert not unexpected, unexpected[:5]
    refused = [r for r in results if r.status == 503]
    assert [r for r in refused if stopped_at <= r.began <= restarted_at], "the outage went unseen"
    for r in refused:
        assert r.retry_after, r
        assert "database is unavailable" in r.body, r.body[:300]
        if r.path.startswith("/api/"):
            assert "try again" in json.loads(r.body)["detail"]
    slowest = max(results, key=lambda r: r.seconds)
    assert slowest.seconds < SLOW, slowest[:5]
    assert [r for r in results if r.began < stopped_at and r.status == 200], "never served"
    # Back without restarting the app: same gunicorn workers, every request succeeds.
    after = [r for r in results if r.began > restarted_at + SETTLE]
    assert len(after) > THREADS
    assert {r.status for r in after} == {200}, [
        (r.status, r.path) for r in after if r.status != 200
    ]
    assert server.process.poll() is None and server.worker_pids() == workers_before
    # A request cut off mid-write left nothing half-done: ticks equal the audit log.
    ticks, events = ticks_and_audit_log(private_postgres, world["run"])
    assert events, "no tick reached the database"
    expected, wrong_changed = replay(events)
    assert ticks == expected and wrong_changed == []
