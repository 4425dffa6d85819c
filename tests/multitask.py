"""A small multi-task dataset for tests: each image has one example per task (same
example_id), some labels unknown (""), predictions neither right nor wrong on those."""

from mlstrat.datasets.models import Example, Prediction, is_error
from tests.factories import DatasetFactory, RunFactory

TASKS = ["even", "big"]


def make_multitask_dataset(project, *, name="digits-mt", tasks=TASKS):
    return DatasetFactory(
        project=project,
        name=name,
        class_names=["no", "yes"],
        tasks=tasks,
        task_class_names={task: ["no", "yes"] for task in tasks},
    )


def add_image(run, example_id, labels, predictions, *, split="dev", source="web", conf=0.8):
    """One image of `run`'s dataset: {task: label ("" unknown)} and {task: predicted}.
    Returns {task: Example}."""
    examples = {}
    for task, label in labels.items():
        # A later run of the same dataset predicts the same examples.
        example, _ = Example.objects.get_or_create(
            dataset=run.dataset,
            example_id=example_id,
            task=task,
            defaults={
                "label": label,
                "original_label": label,
                "split": split,
                "source": source,
                "image": f"datasets/test/{example_id}.png",
            },
        )
        predicted = predictions[task]
        Prediction.objects.create(
            run=run,
            example=example,
            split=split,
            task=task,
            predicted_label=predicted,
            confidence=conf,
            is_error=is_error(label=example.label, predicted=predicted),
        )
        examples[task] = example
    return examples


def make_multitask_run(dataset, *, name="mt-1"):
    """A run over 8 dev images: `even` is wrong on 3 (one more has an unknown label),
    `big` is wrong on 2."""
    run = RunFactory(dataset=dataset, name=name)
    images = {}
    for i in range(8):
        labels = {"even": "yes" if i % 2 == 0 else "no", "big": "yes" if i > 4 else "no"}
        predictions = dict(labels)
        if i in (0, 1, 2):
            predictions["even"] = "no" if labels["even"] == "yes" else "yes"
        if i in (5, 6):
            predictions["big"] = "no"
        if i == 3:
            labels["even"] = ""  # unknown; predicted "no"
        images[f"img{i}"] = add_image(run, f"img{i}", labels, predictions)
    return run, images
