"""After ticks, a worker recounts only the reviews; after a label change, everything."""

from unittest import mock

import pytest

from mlstrat.analytics import snapshot
from mlstrat.analytics.selectors import run_figures
from mlstrat.analytics.services import snapshot_compute
from mlstrat.datasets.models import Example, Prediction
from mlstrat.labels.models import LabelChange

from .builders import category, make_run, review_errors, tick


@pytest.fixture
def run(project):
    return make_run(project, [("dev", "web", "cat", "dog", 10), ("dev", "web", "cat", "cat", 90)])


def test_ticks_recount_only_the_reviews(run, bob):
    snapshot_compute(run=run)
    review = review_errors(run)
    tick(run, review, category(run.dataset, "Dog-like"), [bob], n=4)
    with mock.patch.object(snapshot, "run_counts", wraps=snapshot.run_counts) as counts:
        snapshot_compute(run=run, full=False)
    assert counts.call_count == 0
    figs = run_figures(run=run)
    assert figs["reviews"][0]["categories"][-1]["k"] == 4
    assert figs["splits"][2]["error"]["rate"] == pytest.approx(0.10)


def test_a_label_change_recounts_the_errors(run, bob):
    snapshot_compute(run=run)
    wrong = Prediction.objects.filter(run=run, is_error=True).first()
    example = wrong.example
    Example.objects.filter(pk=example.pk).update(label="dog")
    Prediction.objects.filter(pk=wrong.pk).update(is_error=False)
    LabelChange.objects.create(example=example, from_label="cat", to_label="dog", changed_by=bob)
    snapshot_compute(run=run, full=False)
    dev = run_figures(run=run)["splits"][2]
    assert dev["error"]["rate"] == pytest.approx(0.09)
    assert dev["original_error"]["rate"] == pytest.approx(0.10)
