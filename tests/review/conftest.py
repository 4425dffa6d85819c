"""A run of the cat-app project with misclassified dev examples, and helpers to add more."""

import pytest

from mlstrat.review.services import category_create
from tests.factories import DatasetFactory, ExampleFactory, PredictionFactory, RunFactory


def make_errors(run, n, *, split="dev", label="cat", predicted="dog", confidence=0.8, **example):
    """n misclassified examples of `run` (and their predictions)."""
    predictions = []
    for _ in range(n):
        ex = ExampleFactory(dataset=run.dataset, split=split, label=label, **example)
        predictions.append(
            PredictionFactory(run=run, example=ex, predicted_label=predicted, confidence=confidence)
        )
    return predictions


def make_correct(run, n, *, split="dev"):
    return [
        PredictionFactory(
            run=run,
            example=ExampleFactory(dataset=run.dataset, split=split, label="cat"),
            predicted_label="cat",
        )
        for _ in range(n)
    ]


@pytest.fixture
def dataset(project):
    return DatasetFactory(project=project, name="pets", class_names=["cat", "dog", "bird"])


@pytest.fixture
def run(dataset):
    return RunFactory(dataset=dataset, name="resnet-1")


@pytest.fixture
def errors(run):
    return make_errors(run, 12)


@pytest.fixture
def blurry(dataset, alice):
    return category_create(dataset=dataset, name="Blurry", key="b", created_by=alice)


@pytest.fixture
def dark(dataset, alice):
    return category_create(dataset=dataset, name="Dark", key="d", color="#333333", created_by=alice)


@pytest.fixture
def incorrect(dataset):
    return dataset.categories.get(builtin="incorrect_label")
