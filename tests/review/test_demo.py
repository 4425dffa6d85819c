from mlstrat.labels.models import LabelCorrection
from mlstrat.review.demo import demo_seed_review
from mlstrat.review.models import Tag
from mlstrat.review.selectors import agreement
from tests.factories import DatasetFactory, ExampleFactory, PredictionFactory, RunFactory

KINDS = ["blurry", "noisy", "rotated", "faint", "clean"]


def digits_run(project, n=130):
    dataset = DatasetFactory(project=project, class_names=[str(d) for d in range(10)])
    run = RunFactory(dataset=dataset)
    for i in range(n):
        label, predicted = str(i % 10), str((i + 1) % 10)
        doubtful = i % 25 == 0
        probabilities = {str(d): 0.01 for d in range(10)}
        probabilities[predicted] = 0.95 if doubtful else 0.6
        probabilities[label] = 0.005 if doubtful else 0.3
        PredictionFactory(
            run=run,
            example=ExampleFactory(
                dataset=dataset, label=label, metadata={"distortion": KINDS[i % 5]}
            ),
            predicted_label=predicted,
            confidence=probabilities[predicted],
            probabilities=probabilities,
        )
    return run


def test_the_first_annotator_ticks_what_the_metadata_says(project, bob, carol):
    run = digits_run(project)
    review = demo_seed_review(run=run, users=[bob, carol])
    assert review.items.count() == 100
    for tag in Tag.objects.filter(user=bob, category__builtin="").select_related(
        "example", "category"
    ):
        assert tag.category.name.lower() == tag.example.metadata["distortion"]
    distorted = sum(
        1
        for i in review.items.select_related("example")
        if i.example.metadata["distortion"] != "clean"
    )
    assert Tag.objects.filter(user=bob, category__builtin="").count() == distorted


def test_the_second_annotator_mostly_agrees(project, bob, carol):
    run = digits_run(project)
    review = demo_seed_review(run=run, users=[bob, carol])
    result = agreement(run=run, review=review)
    kappas = [c["kappa"] for c in result["categories"] if c["kappa"] is not None]
    assert kappas and all(0.6 < k <= 1 for k in kappas) and min(kappas) < 1
    assert result["disagreements"]


def test_doubtful_labels_are_proposed(project, bob, carol):
    run = digits_run(project)
    review = demo_seed_review(run=run, users=[bob, carol])
    in_review = set(review.items.values_list("example_id", flat=True))
    ticked = set(
        Tag.objects.filter(user=bob, category__builtin="incorrect_label").values_list(
            "example_id", flat=True
        )
    )
    expected = in_review & {p.example_id for p in run.predictions.filter(confidence=0.95)}
    assert ticked == expected and ticked
    assert LabelCorrection.objects.filter(proposed_by=bob).count() == len(ticked)


def test_the_seed_is_fixed(project, bob):
    run = digits_run(project, n=120)
    one = demo_seed_review(run=run, users=[bob])
    assert one.seed == 2026
