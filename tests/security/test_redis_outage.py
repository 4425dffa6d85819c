"""The task queue (Redis) is unreachable: people keep tagging and browsing, a new import
is refused at once with 503 and a reason (and the job is marked failed, never left
queued), the dashboard says its figures are stale, and it catches up once Redis is back.

The shared Redis is not stopped: the app's producer is pointed at a closed port.
"""

import time

import pytest
from django.utils import timezone

from mlstrat import celery_app
from mlstrat.analytics.models import AnalysisSnapshot
from mlstrat.datasets.models import FigureState, ModelRun
from mlstrat.imports.models import ImportJob, JobStatus
from mlstrat.review.models import Tag
from mlstrat.review.services import category_create
from tests.celery_worker import celery_worker  # noqa: F401  (fixture)
from tests.factories import DatasetFactory, RunFactory
from tests.imports.builders import rows, zip_dump
from tests.review.conftest import make_errors

pytestmark = pytest.mark.django_db(transaction=True)

DEAD_BROKER = "redis://127.0.0.1:6390/0"
FAST = 5  # seconds: a request with the broker down answers within this, never hangs


@pytest.fixture
def run(project):
    dataset = DatasetFactory(project=project, name="pets", class_names=["cat", "dog"])
    return RunFactory(dataset=dataset, name="resnet-1")


@pytest.fixture
def blurry(run, alice):
    return category_create(dataset=run.dataset, name="Blurry", key="b", created_by=alice)


def drop_connections():
    """Forget pooled producer connections, so the next publish connects to the broker
    configured now (what Celery itself does after a fork)."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


class Broker:
    """Points the web side's publishing at a closed port, and back. (Publishing uses the
    write URL; setting `broker_url` would lose to the CELERY_BROKER_URL variable.)"""

    def __init__(self):
        self.write_url = celery_app.conf.get("broker_write_url")
        self.eager = celery_app.conf.task_always_eager

    def down(self):
        celery_app.conf.task_always_eager = False
        celery_app.conf.broker_write_url = DEAD_BROKER
        drop_connections()

    def up(self):
        celery_app.conf.broker_write_url = self.write_url
        drop_connections()

    def restore(self):
        self.up()
        celery_app.conf.task_always_eager = self.eager


@pytest.fixture
def broker():
    broker = Broker()
    yield broker
    broker.restore()


def timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_tagging_and_the_sheet_keep_working(broker, api, as_user, project, carol, run, blurry):
    example = make_errors(run, 3)[0].example
    broker.down()
    api.force_authenticate(carol)
    url = f"/api/v1/runs/{run.pk}/examples/{example.pk}/tags/{blurry.pk}/"
    response, seconds = timed(lambda: api.put(url))
    assert response.status_code == 200 and seconds < FAST
    assert Tag.objects.filter(run=run, example=example, user=carol).exists()
    body = {"action": "clear", "category": blurry.pk, "example": example.pk}
    assert api.post(f"/api/v1/runs/{run.pk}/tags/", body, format="json").status_code == 200
    assert not Tag.objects.filter(run=run, example=example, user=carol).exists()
    assert api.put(url).status_code == 200
    page = as_user(carol).get(f"/p/{project.slug}/runs/{run.pk}/sheet/")
    assert page.status_code == 200
    assert api.get(f"/api/v1/runs/{run.pk}/sheet/").status_code == 200


def test_an_import_through_the_api_is_refused_with_503(broker, api, alice):
    broker.down()
    api.force_authenticate(alice)
    data = {"project": "cat-app", "dataset": "photos", "run": "v1", "file": zip_dump(rows(4))}
    response, seconds = timed(lambda: api.post("/api/v1/imports/", data, format="multipart"))
    assert response.status_code == 503, response.content
    assert seconds < FAST
    assert "queue" in response.json()["detail"]
    # Never left "queued" forever: the job says why it did not run.
    job = ImportJob.objects.get()
    assert job.status == JobStatus.FAILED
    assert "queue" in job.message


def test_an_import_from_the_page_is_refused_with_503(broker, as_user, project, alice):
    broker.down()
    client = as_user(alice)
    data = {"dataset": "__new__", "new_dataset": "photos", "run": "v1"}
    upload = zip_dump(rows(4))
    upload.name = "dump.zip"
    response, seconds = timed(
        lambda: client.post(f"/p/{project.slug}/imports/", {**data, "file": upload})
    )
    assert response.status_code == 503
    assert seconds < FAST
    assert "queue is unavailable" in response.content.decode()
    assert ImportJob.objects.get().status == JobStatus.FAILED


def test_the_dashboard_says_its_figures_are_stale(broker, api, as_user, project, bob, run, blurry):
    example = make_errors(run, 3)[0].example
    broker.down()
    api.force_authenticate(bob)
    assert (
        api.put(f"/api/v1/runs/{run.pk}/examples/{example.pk}/tags/{blurry.pk}/").status_code == 200
    )
    status = api.get(f"/api/v1/analytics/runs/{run.pk}/status/")
    assert status.status_code == 200 and status.json()["stale"] is True
    page = as_user(bob).get(f"/p/{project.slug}/runs/{run.pk}/dashboard/")
    assert page.status_code == 200
    assert 'data-stale="1"' in page.content.decode()
    # Nothing is claimed as queued while the broker is down, so the next read re-queues.
    assert FigureState.objects.get(run=run).enqueued_at is None


@pytest.mark.worker
def test_the_dashboard_catches_up_when_redis_returns(
    celery_worker,  # noqa: F811
    broker,
    api,
    bob,
    run,
    blurry,
):
    examples = [p.example for p in make_errors(run, 3)]
    outage_began = timezone.now()
    broker.down()
    api.force_authenticate(bob)
    for example in examples:
        url = f"/api/v1/runs/{run.pk}/examples/{example.pk}/tags/{blurry.pk}/"
        assert api.put(url).status_code == 200
    status_url = f"/api/v1/analytics/runs/{run.pk}/status/"
    assert api.get(status_url).json()["stale"] is True
    broker.up()
    # The dashboard polls its status; the first poll after the outage queues the recompute.
    deadline = time.monotonic() + 60
    while api.get(status_url).json()["stale"]:
        if time.monotonic() > deadline:
            pytest.fail(f"never caught up:\n{celery_worker.output()[-3000:]}")
        time.sleep(0.3)
    assert AnalysisSnapshot.objects.get(run=run).computed_at > outage_began
    assert "recompute_snapshot" in celery_worker.output()


def test_ranking_labels_is_refused_with_503(broker, api, as_user, project, bob, run):
    ModelRun.objects.filter(pk=run.pk).update(has_probabilities=True)
    broker.down()
    api.force_authenticate(bob)
    response, seconds = timed(lambda: api.post(f"/api/v1/label-scores/compute/?run={run.pk}"))
    assert response.status_code == 503 and seconds < FAST
    assert "queue is unavailable" in response.json()["detail"]
    page = as_user(bob).post(f"/p/{project.slug}/labels/ranking/compute/", {"run": run.pk})
    assert page.status_code == 503
    assert "queue is unavailable" in page.content.decode()


def test_asking_for_a_recompute_is_refused_with_503(broker, api, bob, run):
    broker.down()
    api.force_authenticate(bob)
    response, seconds = timed(lambda: api.post(f"/api/v1/analytics/runs/{run.pk}/recompute/"))
    assert response.status_code == 503 and seconds < FAST
    assert "queue is unavailable" in response.json()["detail"]
    assert response["Retry-After"]
    state = FigureState.objects.get(run=run)
    # Still marked out of date, and not claimed as queued: the next read asks again.
    assert state.requested_at is not None and state.enqueued_at is None
    assert not AnalysisSnapshot.objects.filter(run=run, computed_at__isnull=False).exists()
    broker.up()
    assert api.post(f"/api/v1/analytics/runs/{run.pk}/recompute/").status_code == 202


def test_ticks_during_the_outage_do_not_each_try_the_broker(monkeypatch, api, carol, run, blurry):
    from kombu.exceptions import OperationalError

    from mlstrat.analytics import tasks

    attempts = []

    def refused(*args, **kwargs):
        attempts.append(args)
        raise OperationalError("Error 111 connecting to redis. Connection refused.")

    monkeypatch.setattr(tasks.recompute_snapshot, "apply_async", refused)
    examples = [p.example for p in make_errors(run, 6)]
    api.force_authenticate(carol)
    for example in examples:
        url = f"/api/v1/runs/{run.pk}/examples/{example.pk}/tags/{blurry.pk}/"
        assert api.put(url).status_code == 200
    # The first tick finds the broker down; the next ones, within the backoff, do not pay
    # the publish retries again. Nothing is left claimed: the dashboard asks again later.
    assert len(attempts) == 1
    assert FigureState.objects.get(run=run).enqueued_at is None
    assert AnalysisSnapshot.objects.get(run=run).is_stale
