import pytest

from mlstrat.datasets.models import Split
from mlstrat.labels.models import CheckOutcome, CorrectionStatus
from mlstrat.labels.selectors import correct_sample_estimate
from mlstrat.labels.services import (
    InvalidSample,
    correct_sample_check,
    correct_sample_draw,
    correction_reject,
)
from tests.factories import ExampleFactory, PredictionFactory


@pytest.fixture
def run(dataset, runs):
    run = runs[0]
    for n in range(20):
        example = ExampleFactory(dataset=dataset, example_id=f"c{n}", label="cat")
        PredictionFactory(run=run, example=example, predicted_label="cat")
    wrong = ExampleFactory(dataset=dataset, example_id="w", label="cat")
    PredictionFactory(run=run, example=wrong, predicted_label="dog")
    return run


def test_a_lead_draws_only_correct_predictions(run, bob):
    sample = correct_sample_draw(run=run, split=Split.DEV, size=5, created_by=bob, seed=42)
    ids = list(sample.items.values_list("example__example_id", flat=True))
    assert len(ids) == 5 and "w" not in ids
    assert (sample.population, sample.seed) == (20, 42)


def test_the_same_seed_draws_the_same_sample(run, bob):
    first = correct_sample_draw(run=run, split=Split.DEV, size=5, created_by=bob, seed=7)
    again = correct_sample_draw(run=run, split=Split.DEV, size=5, created_by=bob, seed=7)
    assert list(first.items.values_list("example_id", flat=True)) == list(
        again.items.values_list("example_id", flat=True)
    )


def test_asking_more_than_there_is_takes_them_all(run, bob):
    sample = correct_sample_draw(run=run, split=Split.DEV, size=500, created_by=bob)
    assert sample.size == 20


@pytest.mark.parametrize("size, split", [(0, "dev"), ("many", "dev"), (3, "moon"), (3, "test")])
def test_a_bad_draw_is_refused_with_a_reason(run, bob, size, split):
    with pytest.raises(InvalidSample):
        correct_sample_draw(run=run, split=split, size=size, created_by=bob)


def test_the_estimate_counts_bad_labels_among_checked_items(run, bob, carol):
    sample = correct_sample_draw(run=run, split=Split.DEV, size=10, created_by=bob, seed=1)
    items = list(sample.items.all())
    for item in items[:8]:
        correct_sample_check(item=item, checked_by=carol, outcome=CheckOutcome.CONFIRMED)
    for item in items[8:]:
        correct_sample_check(
            item=item, checked_by=carol, outcome=CheckOutcome.CORRECTED, label="dog"
        )
    estimate = correct_sample_estimate(run=run)
    assert (estimate["k"], estimate["n"]) == (2, 10)
    assert estimate["rate"] == pytest.approx(0.2)
    assert estimate["low"] == pytest.approx(0.0567, abs=1e-3)
    assert estimate["high"] == pytest.approx(0.5098, abs=1e-3)
    # A lead rejecting the proposal means the label was right after all.
    correction = items[9].label_check.correction
    assert correction.status == CorrectionStatus.PENDING
    correction_reject(correction=correction, reviewer=bob, expected_version=0)
    assert correct_sample_estimate(run=run)["k"] == 1


def test_nothing_checked_gives_no_rate(run, bob):
    correct_sample_draw(run=run, split=Split.DEV, size=3, created_by=bob)
    estimate = correct_sample_estimate(run=run)
    assert (estimate["n"], estimate["rate"]) == (0, None)
