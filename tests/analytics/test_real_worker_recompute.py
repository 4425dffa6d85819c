"""A real Celery worker recomputes the figures after a burst of 100 ticks, a few times."""

import re
import time

import pytest

from mlstrat.analytics.models import AnalysisSnapshot
from mlstrat.analytics.selectors import run_figures
from mlstrat.datasets.staleness import figures_stale as snapshot_request
from tests.celery_worker import celery_worker  # noqa: F401  (fixture)

from .builders import category, make_run, review_errors, tick

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_a_burst_of_ticks_causes_a_few_recomputes(celery_worker, project, bob):  # noqa: F811
    run = make_run(project, [("dev", "web", "cat", "dog", 100), ("dev", "web", "cat", "cat", 900)])
    review = review_errors(run)
    dog = category(run.dataset, "Dog-like")
    for i in range(100):  # one committed tick per request, as the sheet sends them
        tick(run, review, dog, [bob], first=i, n=1)
        snapshot_request(run=run)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        snap = AnalysisSnapshot.objects.filter(run=run).first()
        if snap and snap.computed_at and not snap.is_stale:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"never caught up:\n{celery_worker.output()[-3000:]}")
    computed = len(
        re.findall(
            r"recompute_snapshot\[[^\]]+\] succeeded in [\d.]+s: True", celery_worker.output()
        )
    )
    assert 1 <= computed <= 5, celery_worker.output()[-3000:]
    shares = run_figures(run=run)["reviews"][0]["categories"]
    assert next(c for c in shares if c["name"] == "Dog-like")["k"] == 100
