"""Small runs with known numbers, built in bulk for the analytics tests."""

from itertools import count

from mlstrat.datasets.models import Example, Prediction
from mlstrat.review.models import ErrorCategory, Review, ReviewItem, ReviewMark, Tag
from tests.factories import DatasetFactory, RunFactory

_ids = count()


def add_predictions(run, rows):
    """rows: (split, source, label, predicted, how many[, original label]). Examples are
    shared between runs by (split, source, label, original label, index)."""
    for row in rows:
        split, source, label, predicted, n = row[:5]
        original = row[5] if len(row) > 5 else label
        examples = Example.objects.bulk_create(
            [
                Example(
                    dataset=run.dataset,
                    example_id=f"x{next(_ids):06d}",
                    label=label,
                    original_label=original,
                    split=split,
                    source=source,
                    image="datasets/test/x.png",
                )
                for _ in range(n)
            ]
        )
        Prediction.objects.bulk_create(
            [
                Prediction(
                    run=run,
                    example=e,
                    split=split,
                    predicted_label=predicted,
                    confidence=0.7,
                    is_error=predicted != label,
                )
                for e in examples
            ]
        )


def make_run(project, rows, dataset=None, **run_kwargs):
    dataset = dataset or DatasetFactory(project=project, name="pets")
    run = RunFactory(dataset=dataset, **run_kwargs)
    add_predictions(run, rows)
    return run


def review_errors(run, split="dev", name="dev sample", limit=None):
    """A review holding the run's errors on a split (in example order)."""
    review = Review.objects.create(run=run, name=name, split=split, seed=1, sample_size=limit)
    predictions = run.predictions.filter(split=split, is_error=True).order_by("example_id")
    if limit:
        predictions = predictions[:limit]
    ReviewItem.objects.bulk_create(
        [
            ReviewItem(review=review, prediction=p, example_id=p.example_id, position=i)
            for i, p in enumerate(predictions)
        ]
    )
    return review


def category(dataset, name, **kwargs):
    return ErrorCategory.objects.create(dataset=dataset, name=name, **kwargs)


def tick(run, review, category, users, first=0, n=1):
    """`users` each tick `category` on items first..first+n of the review (on its sheet:
    which marks those items reviewed by them)."""
    items = list(review.items.order_by("position")[first : first + n])
    Tag.objects.bulk_create(
        [
            Tag(run=run, example_id=item.example_id, category=category, user=user, review=review)
            for item in items
            for user in users
        ]
    )
    mark(review, users, first=first, n=n)


def mark(review, users, first=0, n=1):
    """`users` each mark items first..first+n of the review reviewed (nothing applies
    unless they tick)."""
    items = list(review.items.order_by("position")[first : first + n])
    ReviewMark.objects.bulk_create(
        [ReviewMark(review=review, item=item, user=user) for item in items for user in users],
        ignore_conflicts=True,
    )
