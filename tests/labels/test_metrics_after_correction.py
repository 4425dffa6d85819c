"""A correction changes what every run's figures count as an error."""

from mlstrat.datasets.models import Prediction
from mlstrat.labels.services import correction_accept, correction_propose, label_change_revert
from tests.factories import ExampleFactory, PredictionFactory


def _error_rate(run):
    predictions = Prediction.objects.filter(run=run)
    return predictions.filter(is_error=True).count() / predictions.count()


def test_error_rates_of_every_run_follow_the_label_in_force(dataset, runs, example, bob, carol):
    for n in range(3):
        other = ExampleFactory(dataset=dataset, example_id=f"other-{n}", label="dog")
        for run in runs:
            PredictionFactory(run=run, example=other, predicted_label="dog")
    assert (_error_rate(runs[0]), _error_rate(runs[1])) == (0.25, 0.0)
    correction = correction_propose(example=example, proposed_label="dog", proposed_by=carol)
    correction_accept(correction=correction, reviewer=bob, expected_version=0)
    assert (_error_rate(runs[0]), _error_rate(runs[1])) == (0.0, 0.25)
    example.refresh_from_db()
    original_errors = Prediction.objects.filter(run=runs[0]).exclude(
        predicted_label=example.original_label
    )
    assert original_errors.filter(example=example).exists()
    label_change_revert(change=example.label_changes.get(), by=bob)
    assert (_error_rate(runs[0]), _error_rate(runs[1])) == (0.25, 0.0)
