"""A burst of changes causes a few recomputes, not one per change, and none is lost."""

from unittest import mock

import pytest

from mlstrat.analytics import services, snapshot
from mlstrat.analytics.models import AnalysisSnapshot
from mlstrat.analytics.tasks import recompute_snapshot
from mlstrat.datasets import staleness
from mlstrat.datasets.models import FigureState

from .builders import make_run


@pytest.fixture
def run(project):
    return make_run(project, [("dev", "web", "cat", "dog", 3), ("dev", "web", "cat", "cat", 7)])


@pytest.fixture
def queue():
    with mock.patch.object(recompute_snapshot, "apply_async") as apply_async:
        yield apply_async


def test_a_hundred_ticks_queue_one_recompute(run, queue, django_capture_on_commit_callbacks):
    for _ in range(100):
        with django_capture_on_commit_callbacks(execute=True):
            staleness.figures_stale(run=run)
    assert queue.call_count == 1
    assert queue.call_args.kwargs == {"args": [run.pk], "countdown": 2}


def test_the_queued_task_computes_once_then_rests(run, queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        staleness.figures_stale(run=run)
    with mock.patch.object(snapshot, "build", wraps=snapshot.build) as build:
        assert recompute_snapshot.run(run.pk) is True
        assert recompute_snapshot.run(run.pk) is False
    assert build.call_count == 1
    snap = AnalysisSnapshot.objects.get(run=run)
    assert not snap.is_stale
    assert snap.figures["splits"]["dev"]["errors"] == 3


def test_a_change_during_a_recompute_leaves_it_stale_and_queues_another(
    run, queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        staleness.figures_stale(run=run)
    real_build = snapshot.build

    def build_while_someone_ticks(*, run, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            staleness.figures_stale(run=run)
        return real_build(run=run, **kwargs)

    with mock.patch.object(snapshot, "build", side_effect=build_while_someone_ticks):
        recompute_snapshot.run(run.pk)
    assert AnalysisSnapshot.objects.get(run=run).is_stale
    assert queue.call_count == 2
    recompute_snapshot.run(run.pk)
    assert not AnalysisSnapshot.objects.get(run=run).is_stale


def test_a_lost_task_is_requeued_when_the_dashboard_is_read(run, queue):
    AnalysisSnapshot.objects.create(run=run)
    services.snapshot_ensure(run=run)
    assert queue.call_count == 1
    services.snapshot_ensure(run=run)
    assert queue.call_count == 1  # still queued: not twice


def test_broker_down_releases_the_claim(run, django_capture_on_commit_callbacks):
    with mock.patch.object(recompute_snapshot, "apply_async", side_effect=OSError("down")):
        with django_capture_on_commit_callbacks(execute=True):
            staleness.figures_stale(run=run)
    assert FigureState.objects.get(run=run).enqueued_at is None


def test_embedded_mode_computes_right_after_commit(run, django_capture_on_commit_callbacks):
    with mock.patch.object(snapshot, "build", wraps=snapshot.build) as build:
        with django_capture_on_commit_callbacks(execute=True):
            for _ in range(100):
                staleness.figures_stale(run=run)
    assert build.call_count == 1
    snap = AnalysisSnapshot.objects.get(run=run)
    assert snap.computed_at is not None and not snap.is_stale
    assert snap.figures["splits"]["dev"]["examples"] == 10
