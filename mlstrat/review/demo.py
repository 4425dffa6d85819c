"""Seed a realistic review for the demo: annotators tick what the images' metadata says.

The digits demo records how each phone image was degraded (`metadata["distortion"]`).
The first annotator ticks exactly that and reviews every example; the second agrees about
nine times in ten (deterministic by seed) and has reviewed the first 80, so the agreement
view has something honest to show. Both mark *Incorrectly labeled* where the model is very
sure and gives the label almost no chance. Examples that fit no category are marked
reviewed all the same ("nothing applies"), so they stay in every share's denominator.
"""

import random

from django.db import transaction

from mlstrat.datasets.models import ModelRun, Prediction

from .models import ErrorCategory, Review, TagAction
from .services import (
    TagError,
    category_create,
    category_ensure_builtins,
    comment_add,
    marks_apply,
    review_create,
    tags_apply,
)

DEMO_SEED = 2026
DEMO_CATEGORIES = [
    ("blurry", "Blurry", "b", "#4e79a7", "Out of focus or motion-blurred."),
    ("noisy", "Noisy", "n", "#f28e2b", "Grainy, speckled sensor noise."),
    ("rotated", "Rotated", "r", "#59a14f", "The digit is turned or upside down."),
    ("faint", "Faint", "f", "#b07aa1", "Low contrast: the stroke barely shows."),
]
# The label looks wrong when the model is this sure and gives the label this little.
LABEL_DOUBT_CONFIDENCE = 0.9
LABEL_DOUBT_PROBABILITY = 0.02


def _categories(*, dataset, created_by) -> dict[str, ErrorCategory]:
    existing = {c.name: c for c in dataset.categories.all()}
    found = {}
    for distortion, name, key, color, description in DEMO_CATEGORIES:
        category = existing.get(name)
        if category is None:
            category = category_create(
                dataset=dataset,
                name=name,
                key=key,
                color=color,
                description=description,
                created_by=created_by,
            )
        found[distortion] = category
    return found


def _doubtful_label(prediction: Prediction, label: str) -> bool:
    probabilities = prediction.probabilities or {}
    if prediction.confidence is None or label not in probabilities:
        return False
    return (
        prediction.confidence > LABEL_DOUBT_CONFIDENCE
        and float(probabilities[label]) < LABEL_DOUBT_PROBABILITY
    )


@transaction.atomic
def demo_seed_review(*, run: ModelRun, users, task: str = "", name: str = "") -> Review:
    """A default review (100 dev errors, fixed seed) tagged by `users` from real metadata
    (of one task's errors of a multi-task run with `task`)."""
    users = list(users)
    if not users:
        raise ValueError("The demo review needs at least one annotator.")
    dataset = run.dataset
    categories = _categories(dataset=dataset, created_by=users[0])
    incorrect = category_ensure_builtins(dataset=dataset)
    review = review_create(
        run=run,
        created_by=users[0],
        name=name or "Dev errors (demo)",
        task=task,
        sample_size=100,
        seed=DEMO_SEED,
    )
    items = list(review.items.select_related("example", "prediction").order_by("position"))
    rng = random.Random(DEMO_SEED)
    distortions = list(categories)
    for rank, user in enumerate(users):
        plan: dict[str, list] = {}
        seen = items if rank == 0 else items[:80]
        for item in seen:
            truth = item.example.metadata.get("distortion")
            answer = truth if truth in categories else None
            # The second and later annotators see the same thing about nine times in ten.
            if rank > 0 and rng.random() >= 0.9:
                answer = rng.choice([d for d in distortions + [None] if d != answer])
            if answer is not None:
                plan.setdefault(answer, []).append(item.example)
            elif rank == 0:
                comment_add(
                    run=run,
                    example=item.example,
                    user=user,
                    text="Clean image: no distortion.",
                    review=review,
                )
        for distortion, examples in plan.items():
            tags_apply(
                run=run,
                examples=examples,
                category=categories[distortion],
                user=user,
                action=TagAction.SET,
                review=review,
            )
        for item in seen:
            if not _doubtful_label(item.prediction, item.example.label):
                continue
            try:
                tags_apply(
                    run=run,
                    examples=[item.example],
                    category=incorrect,
                    user=user,
                    action=TagAction.SET,
                    proposed_label=item.prediction.predicted_label,
                    review=review,
                )
            except TagError:
                continue
        marks_apply(review=review, examples=[item.example for item in seen], user=user)
    return review
