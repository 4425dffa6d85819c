"""Celery is set up so a crashed worker, a lost connection or a slow task loses no job:
messages are acknowledged after the work, given back when a worker dies, fetched one at
a time, and redelivered only after the longest task could have finished."""

import pytest
from django.conf import settings
from django.db import OperationalError

from mlstrat import celery_app


def our_tasks():
    celery_app.loader.import_default_modules()
    tasks = {
        name: task
        for name, task in celery_app.tasks.items()
        if task.__module__.startswith("mlstrat.")
    }
    assert tasks, "no mlstrat tasks were discovered"
    return tasks


def test_messages_are_acknowledged_after_the_work_and_given_back_on_a_crash():
    conf = celery_app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1


def test_every_task_has_a_time_limit_and_redelivery_waits_longer():
    conf = celery_app.conf
    assert conf.task_time_limit and conf.task_soft_time_limit
    assert conf.task_soft_time_limit < conf.task_time_limit
    longest = max([conf.task_time_limit] + [t.time_limit or 0 for t in our_tasks().values()])
    assert conf.broker_transport_options["visibility_timeout"] > longest


def test_publishing_fails_fast_when_the_broker_is_down():
    # A request that queues a job must answer 503 quickly, not hang on the broker.
    assert settings.CELERY_BROKER_CONNECTION_TIMEOUT <= 5
    policy = settings.CELERY_TASK_PUBLISH_RETRY_POLICY
    assert policy["max_retries"] * policy["interval_max"] <= 5


@pytest.mark.parametrize("name", sorted(our_tasks()))
def test_each_task_is_crash_safe_and_retries_database_errors(name):
    task = celery_app.tasks[name]
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True
    assert any(issubclass(OperationalError, exc) for exc in task.autoretry_for)
    assert task.retry_backoff
    assert 0 < task.max_retries <= 10


def test_dashboard_recomputes_have_their_own_queue_that_every_worker_reads():
    """A big import queues thousands of thumbnail chunks; a recompute queued behind them
    would leave the dashboards stale until they are all done."""
    router = celery_app.amqp.router
    recompute = router.route({}, "mlstrat.analytics.tasks.recompute_snapshot", args=(1,))
    thumbnails = router.route({}, "imports.make_thumbnails", args=(1, [1]))
    assert recompute["queue"].name == "dashboards"
    assert thumbnails["queue"].name == "celery"
    # A worker started as documented (no -Q) consumes every queue in task_queues.
    assert set(celery_app.amqp.queues) == {"celery", "dashboards"}
