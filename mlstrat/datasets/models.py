from django.conf import settings
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual

from mlstrat.accounts.models import Project
from mlstrat.names import TEXT_MAX_LENGTH


class Split(models.TextChoices):
    TRAIN = "train", "train"
    TRAIN_DEV = "train_dev", "train-dev"
    DEV = "dev", "dev"
    TEST = "test", "test"


SPLIT_ORDER = [Split.TRAIN, Split.TRAIN_DEV, Split.DEV, Split.TEST]


class Dataset(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=TEXT_MAX_LENGTH)
    class_names = models.JSONField(default=list, blank=True)
    # A proxy for Bayes error, entered by a lead, as a fraction (0.01 = 1%).
    human_level_error = models.FloatField(null=True, blank=True)
    # Optional per source distribution: {"web": 0.01, "app": 0.02}.
    human_level_error_by_source = models.JSONField(default=dict, blank=True)
    # A multi-task dataset names its tasks in the dump's order (["pedestrian", "car"]);
    # empty for a single-task dataset, whose examples all have task "".
    tasks = models.JSONField(default=list, blank=True)
    # A multi-task dataset's classes per task ({"car": ["0", "1"]}); `class_names` then
    # holds every task's classes together (for readers that do not know tasks).
    task_class_names = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="dataset_unique_name"),
            models.CheckConstraint(
                condition=models.Q(human_level_error__isnull=True)
                | models.Q(human_level_error__gte=0, human_level_error__lte=1),
                name="dataset_human_error_is_a_rate",
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("description"), TEXT_MAX_LENGTH),
                name="dataset_description_capped",
            ),
        ]
        ordering = ["project", "name"]

    def __str__(self):
        return self.name

    @property
    def is_multitask(self) -> bool:
        return bool(self.tasks)

    def classes_for(self, task: str = "") -> list[str]:
        """The classes of one task ("" : the single task of a single-task dataset)."""
        if task and self.tasks:
            return list((self.task_class_names or {}).get(task, []))
        return list(self.class_names or [])


def is_error(*, label: str, predicted: str) -> bool | None:
    """Whether a prediction is wrong under a label: None when the label is unknown ("").
    The one rule, also written by the import's COPY and the label-correction UPDATE
    (labels.services.predictions_is_error_sync)."""
    if not label:
        return None
    return predicted != label


def image_upload_to(example, filename):
    return f"datasets/{example.dataset_id}/images/{filename}"


class Example(models.Model):
    """One image of a dataset for one task. `label` is the label in force;
    `original_label` as imported.

    A multi-task dump makes one example per (image, task): the same `example_id`, image,
    split, source and metadata, with the task's label. `task` is "" in a single-task
    dataset. An unknown label ("" or "?" in the dump) is stored as `label == ""`: its
    predictions have `is_error = None` and count in neither numerator nor denominator.
    """

    # No index of its own: every composite index below starts with the dataset.
    dataset = models.ForeignKey(
        Dataset, on_delete=models.CASCADE, related_name="examples", db_index=False
    )
    example_id = models.CharField(max_length=200)
    task = models.CharField(max_length=100, blank=True, default="", db_default="")
    label = models.CharField(max_length=200, blank=True)
    original_label = models.CharField(max_length=200)
    split = models.CharField(max_length=16, choices=Split.choices)
    source = models.CharField(max_length=100, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    image = models.FileField(max_length=500, upload_to=image_upload_to)
    # An imported image lives in a pack (many images one after the other in one stored
    # object, mlstrat/datasets/images.py): these say where. Null: the file is the image.
    image_offset = models.BigIntegerField(null=True, blank=True)
    image_size = models.PositiveIntegerField(null=True, blank=True)
    thumbnail = models.FileField(max_length=500, blank=True, default="")
    thumbnail_offset = models.BigIntegerField(null=True, blank=True)
    thumbnail_size = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "example_id", "task"], name="example_unique_example_id_task"
            ),
        ]
        indexes = [
            models.Index(fields=["dataset", "split"], name="example_split_idx"),
            models.Index(fields=["dataset", "label"], name="example_label_idx"),
            models.Index(fields=["dataset", "source"], name="example_source_idx"),
        ]

    def __str__(self):
        return self.example_id


class RunStatus(models.TextChoices):
    # A run is staged while its import job writes it, and becomes visible in one
    # transaction when the job succeeds (stage, then swap).
    STAGING = "staging", "staging"
    READY = "ready", "ready"
    FAILED = "failed", "failed"


class ModelRun(models.Model):
    """One model version's predictions on a dataset."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="runs")
    name = models.CharField(max_length=200)
    notes = models.TextField(blank=True, max_length=TEXT_MAX_LENGTH)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.STAGING)
    has_probabilities = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    imported_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "name"],
                condition=models.Q(status="ready"),
                name="run_unique_ready_name",
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("notes"), TEXT_MAX_LENGTH),
                name="run_notes_capped",
            ),
        ]
        indexes = [models.Index(fields=["dataset", "status", "imported_at"], name="run_ready_idx")]
        ordering = ["dataset", "imported_at", "id"]

    def __str__(self):
        return self.name


class Prediction(models.Model):
    """A run's predicted label for an example.

    `split` is copied from the example (it never changes) so that a run's errors on a
    split are one index scan. `is_error` compares with the label in force and is kept
    in step by the label-correction services.
    """

    # No index of its own: every composite index below starts with the run.
    run = models.ForeignKey(
        ModelRun, on_delete=models.CASCADE, related_name="predictions", db_index=False
    )
    # No index of its own either: the unique (example, run) index starts with it.
    example = models.ForeignKey(
        Example, on_delete=models.CASCADE, related_name="predictions", db_index=False
    )
    split = models.CharField(max_length=16, choices=Split.choices)
    # Copied from the example, as split is.
    task = models.CharField(max_length=100, blank=True, default="", db_default="")
    predicted_label = models.CharField(max_length=200)
    confidence = models.FloatField(null=True, blank=True)
    probabilities = models.JSONField(null=True, blank=True)
    # None when the example's label is unknown: neither right nor wrong.
    is_error = models.BooleanField(null=True)

    class Meta:
        constraints = [
            # Example first: it also serves "this example's predictions in every run" and
            # the cascade from examples, so the foreign key needs no index of its own.
            models.UniqueConstraint(fields=["example", "run"], name="prediction_unique_example"),
            models.CheckConstraint(
                condition=models.Q(confidence__isnull=True)
                | models.Q(confidence__gte=0, confidence__lte=1),
                name="prediction_confidence_is_a_probability",
            ),
        ]
        indexes = [
            # A page of a run's errors on a split (keyset on id) is a short range scan of
            # this index, and the sheet's counts over those errors read only the index
            # (example and task last: an index-only scan, never a heap fetch per error,
            # also for one task's errors: at 1M images x 4 tasks, one task's count among the
            # 65,000 dev errors took 28 ms with a heap fetch each, 10 ms from the index).
            models.Index(
                fields=["run", "split", "is_error", "id", "example", "task"],
                name="prediction_errors_task_idx",
            ),
            models.Index(fields=["run", "predicted_label"], name="prediction_label_idx"),
            # No index on confidence: it is only filtered or sorted within a run's errors
            # on a split (the index above), and a B-tree of random floats made every
            # import slower for no reader (0 scans under the sheet and load benches).
        ]

    def __str__(self):
        return f"{self.run}: {self.example} -> {self.predicted_label}"


class FigureState(models.Model):
    """Whether a run's figures are out of date (see datasets/staleness.py): one row per
    run, kept apart from the run (ticks update it) and from the stored figures."""

    run = models.OneToOneField(
        ModelRun, on_delete=models.CASCADE, primary_key=True, related_name="figure_state"
    )
    # The figures are out of date since then (null: never asked).
    requested_at = models.DateTimeField(null=True, blank=True)
    # A recompute waits in the queue since then (null: none).
    enqueued_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"figure state of {self.run}"
