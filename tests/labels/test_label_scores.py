import pytest

from mlstrat.labels.selectors import label_score_for, label_scores
from mlstrat.labels.services import correction_accept, correction_propose, label_scores_compute
from tests.factories import ExampleFactory, PredictionFactory, RunFactory

from .test_ranking import TABLE


def _run_with_table(dataset):
    run = RunFactory(dataset=dataset, name="probs", has_probabilities=True)
    for key, probabilities, label in TABLE:
        example = ExampleFactory(dataset=dataset, example_id=key, label=label)
        predicted = max(probabilities, key=probabilities.get)
        PredictionFactory(
            run=run, example=example, predicted_label=predicted, probabilities=probabilities
        )
    return run


def test_a_run_is_ranked_least_likely_label_first(dataset):
    run = _run_with_table(dataset)
    assert label_scores_compute(run=run, batch_size=4) == len(TABLE)
    order = [s.example.example_id for s in label_scores(run=run)]
    assert order == ["c", "b", "d", "f", "e", "a"]
    by_margin = [s.example.example_id for s in label_scores(run=run, method="margin")]
    assert by_margin == ["c", "b", "d", "f", "e", "a"]


def test_accepting_a_correction_rescores_the_example(dataset, bob, carol):
    run = _run_with_table(dataset)
    label_scores_compute(run=run)
    example = dataset.examples.get(example_id="c")
    correction = correction_propose(example=example, proposed_label="dog", proposed_by=carol)
    correction_accept(correction=correction, reviewer=bob, expected_version=0)
    order = [s.example.example_id for s in label_scores(run=run)]
    assert order[-1] == "c"
    example.refresh_from_db()
    score = label_score_for(run=run, example=example)
    assert round(score["self_confidence"], 2) == 0.9
    assert score["rank"] == 6


def test_stored_scores_equal_the_pure_function_on_every_database(dataset):
    """On PostgreSQL scores are computed in SQL: they must match ranking.label_quality."""
    from mlstrat.labels import ranking
    from mlstrat.labels.models import LabelScore

    run = _run_with_table(dataset)
    odd = [
        ("q1", {'it"s': 0.7, "cat": 0.3}, 'it"s'),  # a quote in the class name
        ("q2", {"dog": 0.9, "bird": 0.1}, "cat"),  # the label has no probability
        ("q3", {"cat": 1.0}, "cat"),  # no other class
    ]
    for key, probabilities, label in odd:
        example = ExampleFactory(dataset=dataset, example_id=key, label=label)
        PredictionFactory(
            run=run, example=example, predicted_label="cat", probabilities=probabilities
        )
    label_scores_compute(run=run)
    expected = {key: ranking.label_quality(p, label) for key, p, label in TABLE + odd}
    stored = {
        s.example.example_id: (s.self_confidence, s.margin)
        for s in LabelScore.objects.filter(run=run).select_related("example")
    }
    assert stored.keys() == expected.keys()
    for key, (confidence, margin) in expected.items():
        assert stored[key] == (pytest.approx(confidence), pytest.approx(margin)), key
