"""A small dataset with real images: sharp training digits, blurry dev ones, measured."""

import io

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image, ImageFilter

from mlstrat.datasets.models import Example, Prediction, Split
from mlstrat.mismatch.services import characteristics_measure
from mlstrat.review.services import category_create
from tests.factories import DatasetFactory, RunFactory

CLASSES = ["0", "1", "2"]


def glyph(rng) -> Image.Image:
    cells = (rng.random((8, 8)) < 0.35) * rng.integers(150, 256, (8, 8))
    return Image.fromarray(cells.astype(np.uint8), "L").resize((32, 32), Image.NEAREST)


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def make_dataset(project, *, train=40, train_dev=10, dev=40, seed=1, name="digits"):
    """Train sharp; dev blurred (sigma 0.8-2.2); a run that errs on a fifth of dev."""
    rng = np.random.default_rng(seed)
    dataset = DatasetFactory(project=project, name=name, class_names=CLASSES)
    run = RunFactory(dataset=dataset, name="v1")
    examples = []
    for split, count in ((Split.TRAIN, train), (Split.TRAIN_DEV, train_dev), (Split.DEV, dev)):
        for i in range(count):
            image = glyph(rng)
            if split == Split.DEV:
                image = image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.8, 2.2))))
            example_id = f"{split}-{i:03d}"
            stored = default_storage.save(
                f"datasets/{dataset.pk}/images/{example_id}.png", ContentFile(png(image))
            )
            label = CLASSES[i % 3]
            examples.append(
                Example.objects.create(
                    dataset=dataset,
                    example_id=example_id,
                    label=label,
                    original_label=label,
                    split=split,
                    source="scanner" if split != Split.DEV else "phone",
                    metadata={"camera": "flatbed" if split != Split.DEV else "phone"},
                    image=stored,
                )
            )
    for i, example in enumerate(examples):
        wrong = example.split == Split.DEV and i % 5 == 0
        Prediction.objects.create(
            run=run,
            example=example,
            split=example.split,
            predicted_label=CLASSES[(CLASSES.index(example.label) + 1) % 3]
            if wrong
            else example.label,
            confidence=0.9,
            is_error=wrong,
        )
    characteristics_measure(example_ids=[e.pk for e in examples])
    return dataset, run


def categories(dataset, user):
    return {
        name: category_create(
            dataset=dataset, name=name, key=key, color=color, description="", created_by=user
        )
        for name, key, color in (("Blurry", "b", "#4e79a7"), ("Noisy", "n", "#f28e2b"))
    }
