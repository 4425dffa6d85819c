import pytest

from mlstrat.labels.services import correction_propose
from tests.factories import DatasetFactory, ExampleFactory, PredictionFactory, RunFactory


@pytest.fixture
def dataset(project):
    return DatasetFactory(project=project, name="pets", class_names=["cat", "dog", "bird"])


@pytest.fixture
def runs(dataset):
    """Two visible runs, oldest first."""
    return [RunFactory(dataset=dataset, name="v1"), RunFactory(dataset=dataset, name="v2")]


@pytest.fixture
def example(dataset, runs):
    """Labelled cat; v1 predicted dog (an error), v2 predicted cat (right)."""
    example = ExampleFactory(dataset=dataset, example_id="img-001", label="cat")
    PredictionFactory(
        run=runs[0],
        example=example,
        predicted_label="dog",
        probabilities={"cat": 0.1, "dog": 0.8, "bird": 0.1},
    )
    PredictionFactory(
        run=runs[1],
        example=example,
        predicted_label="cat",
        probabilities={"cat": 0.6, "dog": 0.3, "bird": 0.1},
    )
    return example


@pytest.fixture
def proposal(example, carol):
    return correction_propose(
        example=example, proposed_label="dog", proposed_by=carol, reason="Clearly a puppy"
    )
