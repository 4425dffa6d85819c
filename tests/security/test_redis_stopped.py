"""Redis really stops for 30 s: tagging and browsing keep working, a new import is refused
at once with 503 and a reason, the dashboard says its figures are stale, and when Redis
is back the dashboard catches up and imports run again, without restarting anything.

The app runs under gunicorn and a real Celery worker, both on the test database and on
a private redis-server (tests/services.py; broker, and the web's cache as deployed) that
the test stops with SIGTERM and starts again on the same port; the shared Redis other
suites use stays up.
tests/security/test_redis_outage.py simulates the same in process with a closed port.
"""

import re
import time

import pytest
import requests
from django.db import connection
from django.utils import timezone

from mlstrat.analytics.models import AnalysisSnapshot
from mlstrat.datasets.models import FigureState
from mlstrat.imports.models import ImportJob, JobStatus
from tests.celery_worker import database_url, running_worker
from tests.imports.builders import rows, zip_dump
from tests.security import outage_world
from tests.services import (  # noqa: F401  (fixtures)
    app_env,
    private_redis,
    require,
    web_server,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

OUTAGE = 30  # seconds Redis stays down
FAST = 5  # seconds: with Redis down, every request still answers within this
# Seconds for the worker to reconnect (its retries back off: 2, 4, 6... s apart) and the
# figures to catch up; about 11 s on the development machine.
CATCH_UP = 60
RECOMPUTED = re.compile(r"recompute_snapshot\[[^\]]+\] succeeded in [\d.]+s: True")


class App:
    """The running app as its users reach it: over HTTP, as alice, bob or carol."""

    def __init__(self, server, world):
        self.url = server.url
        self.world = world
        self.people = {}
        for name, token in world["tokens"].items():
            self.people[name] = requests.Session()
            self.people[name].headers["Authorization"] = f"Token {token}"
        self.people["carol"].cookies.set(world["session_cookie"], world["carol_session"])
        run = world["run"]
        self.run = f"/api/v1/runs/{run}"
        self.status_url = f"/api/v1/analytics/runs/{run}/status/"
        self.page = f"/p/{world['project']}/runs/{run}"

    def close(self):
        for session in self.people.values():
            session.close()

    def call(self, who, method, path, **kwargs):
        """The response and how long it took."""
        began = time.monotonic()
        response = self.people[who].request(method, self.url + path, timeout=30, **kwargs)
        return response, time.monotonic() - began

    def tick(self, method, example):
        category = self.world["category"]
        return self.call("carol", method, f"{self.run}/examples/{example}/tags/{category}/")

    def status(self):
        response, _ = self.call("bob", "GET", self.status_url)
        assert response.status_code == 200, response.text
        return response.json()

    def submit_import(self, run_name):
        dump = zip_dump(rows(4))
        data = {"project": self.world["project"], "dataset": "photos", "run": run_name}
        files = {"file": ("dump.zip", dump, "application/zip")}
        return self.call("alice", "POST", "/api/v1/imports/", data=data, files=files)


def browse_and_tag(app, example):
    """What an annotator does in a minute; each step must answer 2xx quickly."""
    steps = [
        app.tick("PUT", example),
        app.tick("DELETE", example),
        app.tick("PUT", example),
        app.call("carol", "GET", f"{app.page}/sheet/"),
        app.call("carol", "GET", f"{app.run}/sheet/"),
    ]
    for response, seconds in steps:
        assert 200 <= response.status_code < 300, (response.request.url, response.text[:300])
        assert seconds < FAST, (response.request.url, seconds)


def wait_until(condition, *, seconds, why):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(why())
        time.sleep(0.3)


@pytest.fixture
def stack(private_redis, web_server, tmp_path):  # noqa: F811
    """The world in the test database, a worker and gunicorn on the private Redis."""
    require(connection.vendor == "postgresql", "the app processes need PostgreSQL (DATABASE_URL)")
    world = outage_world.build()
    database = database_url(connection.settings_dict)
    media = tmp_path / "media"
    with running_worker(
        broker=private_redis.url, database=database, media_root=media, log=tmp_path / "worker.log"
    ) as worker:
        # As deployed (docker-compose.yml), the rate limits' cache is on the same Redis.
        env = app_env(
            database_url=database,
            broker_url=private_redis.url,
            media_root=media,
            CACHE_URL=private_redis.db(1),
        )
        app = App(web_server(env), world)
        yield app, worker
        app.close()


def test_redis_stopped_for_30_seconds(stack, private_redis):  # noqa: F811
    app, worker = stack
    run_id, examples = app.world["run"], app.world["examples"]

    def log():
        return worker.output()[-3000:]

    # Before: everything works, and the dashboard is current with nothing left queued (a
    # message queued now would be lost with the restart's empty Redis).
    browse_and_tag(app, examples[0])
    wait_until(
        lambda: (
            not app.status()["stale"] and FigureState.objects.get(run_id=run_id).enqueued_at is None
        ),
        seconds=CATCH_UP,
        why=lambda: f"the dashboard never became current before the outage:\n{log()}",
    )
    recomputed_before = len(RECOMPUTED.findall(worker.output()))

    private_redis.stop()
    outage_began = timezone.now()
    back_at = time.monotonic() + OUTAGE

    response, seconds = app.submit_import("during-outage")
    assert response.status_code == 503 and seconds < FAST, (response.status_code, seconds)
    assert "queue" in response.json()["detail"]
    # Never left "queued" forever: the job says why it did not run.
    assert ImportJob.objects.get(run_name="during-outage").status == JobStatus.FAILED
    response, seconds = app.call("bob", "POST", f"/api/v1/analytics/runs/{run_id}/recompute/")
    assert response.status_code == 503 and seconds < FAST, (response.status_code, seconds)
    assert "queue" in response.json()["detail"]
    rounds = 0
    while time.monotonic() < back_at:
        browse_and_tag(app, examples[rounds % len(examples)])
        assert app.status()["stale"] is True
        rounds += 1
    page, seconds = app.call("carol", "GET", f"{app.page}/dashboard/")
    assert page.status_code == 200 and seconds < FAST
    assert 'data-stale="1"' in page.text
    response, seconds = app.submit_import("end-of-outage")
    assert response.status_code == 503 and seconds < FAST
    assert rounds >= 3, "the outage loop hardly ran"

    private_redis.start()  # same port; web and worker are not restarted
    wait_until(
        lambda: not app.status()["stale"],
        seconds=CATCH_UP,
        why=lambda: f"the dashboard never caught up after the outage:\n{log()}",
    )
    assert AnalysisSnapshot.objects.get(run_id=run_id).computed_at > outage_began
    assert len(RECOMPUTED.findall(worker.output())) > recomputed_before, log()

    response, _ = app.submit_import("after-outage")
    assert response.status_code == 202, response.text
    job_url = f"/api/v1/imports/{response.json()['id']}/"

    def finished():
        job = app.call("alice", "GET", job_url)[0].json()
        return job["status"] in ("succeeded", "failed")

    wait_until(finished, seconds=CATCH_UP, why=lambda: f"the import never ran:\n{log()}")
    job = app.call("alice", "GET", job_url)[0].json()
    assert job["status"] == "succeeded", (job["message"], log())
