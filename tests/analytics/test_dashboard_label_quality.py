"""The dashboard estimates bad labels among correct predictions and warns on dev/test balance."""

from mlstrat.labels.models import (
    CheckOrigin,
    CheckOutcome,
    CorrectSample,
    CorrectSampleItem,
    LabelCheck,
)
from tests.factories import DatasetFactory, ExampleFactory, PredictionFactory, RunFactory


def test_it_shows_the_bad_label_rate_among_correct_predictions(as_user, bob, project):
    run = RunFactory(dataset=DatasetFactory(project=project))
    sample = CorrectSample.objects.create(run=run, split="dev", size=4, seed=1, population=4)
    for i, outcome in enumerate(["confirmed", "confirmed", "confirmed", "corrected"]):
        example = ExampleFactory(dataset=run.dataset, split="dev")
        PredictionFactory(run=run, example=example, predicted_label="cat")
        item = CorrectSampleItem.objects.create(sample=sample, example=example, position=i)
        LabelCheck.objects.create(
            example=example,
            run=run,
            sample_item=item,
            outcome=CheckOutcome(outcome),
            origin=CheckOrigin.CORRECT_SAMPLE,
            checked_by=bob,
        )
    content = as_user(bob).get(f"/p/{project.slug}/runs/{run.pk}/dashboard/").content.decode()
    assert 'id="correct-bad-rate">25.0%' in content
    assert "1 bad of 4 checked" in content


def test_it_warns_when_dev_was_checked_more_deeply_than_test(as_user, bob, project):
    run = RunFactory(dataset=DatasetFactory(project=project))
    for split in ["dev"] * 10 + ["test"] * 10:
        PredictionFactory(run=run, example=ExampleFactory(dataset=run.dataset, split=split))
    for example in run.dataset.examples.filter(split="dev")[:6]:
        LabelCheck.objects.create(
            example=example,
            run=run,
            outcome=CheckOutcome.CONFIRMED,
            origin=CheckOrigin.CORRECT_SAMPLE,
            checked_by=bob,
        )
    content = as_user(bob).get(f"/p/{project.slug}/runs/{run.pk}/dashboard/").content.decode()
    assert "dev was checked more deeply" in content
