"""The digits demo's data-mismatch part: a blind train-vs-dev review tagged by the two
annotators from the images' real distortion (the first ticks exactly that, the second
agrees about nine times in ten), and a recipe that blurs training digits to match dev's
measured sharpness (not run: a lead previews and runs it)."""

import random

from django.db import transaction

from mlstrat.datasets.models import Dataset

from .models import CharacteristicReview, SynthesisRecipe
from .services import (
    characteristic_nothing,
    characteristic_review_create,
    characteristic_tick,
    recipe_create,
)

DEMO_SEED = 2026
REVIEW_NAME = "Train vs dev (demo)"
RECIPE_NAME = "blurry-phone"


@transaction.atomic
def demo_seed_mismatch(*, dataset: Dataset, users, lead) -> None:
    users = list(users)
    if not CharacteristicReview.objects.filter(dataset=dataset, name=REVIEW_NAME).exists():
        categories = {
            c.name.lower(): c for c in dataset.categories.filter(builtin="", archived=False)
        }
        review = characteristic_review_create(
            dataset=dataset, created_by=lead, name=REVIEW_NAME, size=30, seed=DEMO_SEED
        )
        rng = random.Random(DEMO_SEED)
        for item in review.items.select_related("example").order_by("position"):
            truth = item.example.metadata.get("distortion")
            for rank, user in enumerate(users):
                answer = truth if truth in categories else None
                if rank > 0 and rng.random() >= 0.9:
                    answer = rng.choice([None, *categories])
                if answer is None:
                    characteristic_nothing(item=item, user=user, on=True)
                else:
                    characteristic_tick(item=item, category=categories[answer], user=user, on=True)
    if not SynthesisRecipe.objects.filter(dataset=dataset, name=RECIPE_NAME).exists():
        recipe_create(
            dataset=dataset,
            created_by=lead,
            name=RECIPE_NAME,
            transforms=[{"name": "GaussianBlur", "params": {"sigma": "match"}}],
            filters={"source": "scanner"},
            count=2000,
            seed=DEMO_SEED,
        )
