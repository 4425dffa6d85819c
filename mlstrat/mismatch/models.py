"""Data mismatch: measured characteristics of every example, train-vs-dev reviews, and
synthesis recipes with the jobs that write their dumps."""

from django.conf import settings
from django.db import models

from mlstrat.datasets.models import Dataset, Example, Split
from mlstrat.review.models import ErrorCategory


class ExampleCharacteristics(models.Model):
    """What the thumbnail pass measured on one example's image (see characteristics.py)."""

    example = models.OneToOneField(
        Example, on_delete=models.CASCADE, primary_key=True, related_name="characteristics"
    )
    # Copied from the example so that a dataset's distributions are read from this table
    # alone, split and source included (they never change).
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="+", db_index=False)
    split = models.CharField(max_length=16, choices=Split.choices)
    source = models.CharField(max_length=100, blank=True, default="")
    brightness = models.FloatField()
    contrast = models.FloatField()
    sharpness = models.FloatField()
    noise = models.FloatField()
    colourfulness = models.FloatField()
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    aspect = models.FloatField()

    class Meta:
        indexes = [models.Index(fields=["dataset", "split", "source"], name="characteristics_idx")]
        verbose_name_plural = "example characteristics"

    def __str__(self):
        return f"characteristics of {self.example_id}"


class CharacteristicReview(models.Model):
    """A seeded sample of training and dev examples, the same size from each, tagged with
    the dataset's categories regardless of errors (train vs dev, blind or not)."""

    dataset = models.ForeignKey(
        Dataset, on_delete=models.CASCADE, related_name="characteristic_reviews"
    )
    name = models.CharField(max_length=200)
    # Examples drawn from each split (from each split of each source when per_source).
    size = models.PositiveIntegerField()
    seed = models.BigIntegerField()
    per_source = models.BooleanField(default=False)
    # Mixed without telling annotators which split an example comes from.
    blind = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.name


class CharacteristicReviewItem(models.Model):
    review = models.ForeignKey(CharacteristicReview, on_delete=models.CASCADE, related_name="items")
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()
    split = models.CharField(max_length=16, choices=Split.choices)
    source = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["review", "example"], name="char_item_unique"),
            models.UniqueConstraint(fields=["review", "position"], name="char_item_position"),
        ]
        ordering = ["review", "position"]

    def __str__(self):
        return f"{self.review} #{self.position}"


class CharacteristicTick(models.Model):
    """One person's tick of one category on one item of a train-vs-dev review."""

    item = models.ForeignKey(
        CharacteristicReviewItem, on_delete=models.CASCADE, related_name="ticks"
    )
    category = models.ForeignKey(ErrorCategory, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "category", "user"], name="char_tick_unique"),
        ]

    def __str__(self):
        return f"{self.user_id} ticked {self.category_id} on item {self.item_id}"


class CharacteristicNothing(models.Model):
    """A person looked at an item and found that no category applies (key 0): it counts
    as reviewed, with no category."""

    item = models.ForeignKey(
        CharacteristicReviewItem, on_delete=models.CASCADE, related_name="nothing_marks"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "user"], name="char_nothing_unique"),
        ]

    def __str__(self):
        return f"{self.user_id}: nothing applies to item {self.item_id}"


def overlay_upload_to(image, filename):
    return f"mismatch/overlays/{image.overlay_set_id}/{filename}"


class OverlaySet(models.Model):
    """Images blended into synthesized examples (the car-noise analogue)."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="overlay_sets")
    name = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset", "name"], name="overlay_set_unique_name")
        ]
        ordering = ["dataset", "name"]

    def __str__(self):
        return self.name


class OverlayImage(models.Model):
    overlay_set = models.ForeignKey(OverlaySet, on_delete=models.CASCADE, related_name="images")
    name = models.CharField(max_length=200)
    image = models.FileField(max_length=500, upload_to=overlay_upload_to)

    class Meta:
        ordering = ["overlay_set", "id"]

    def __str__(self):
        return self.name


class SynthesisRecipe(models.Model):
    """Which training examples, which transforms with which parameters (ranges, or drawn to
    match dev's measured distribution), how many outputs, from which seed."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="recipes")
    name = models.SlugField(max_length=80)
    # {"label": "", "source": "", "char_sharpness_min": 100, ...}: over training examples.
    filters = models.JSONField(default=dict, blank=True)
    # [{"name": "GaussianBlur", "params": {"sigma": [0.5, 2.0]}} or {"sigma": "match"}]
    transforms = models.JSONField(default=list)
    count = models.PositiveIntegerField(default=1000)
    seed = models.BigIntegerField(default=0)
    overlay_set = models.ForeignKey(
        OverlaySet, null=True, blank=True, on_delete=models.PROTECT, related_name="recipes"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset", "name"], name="recipe_unique_name")
        ]
        ordering = ["dataset", "-created_at", "-id"]

    def __str__(self):
        return self.name

    @property
    def source_tag(self) -> str:
        return f"synthetic:{self.name}"


class JobStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"
    CANCELLED = "cancelled", "cancelled"


FINISHED = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED}


def dump_upload_to(job, filename):
    return f"mismatch/jobs/{job.pk}/{filename}"


class SynthesisJob(models.Model):
    """One run of a recipe, in chunks of outputs; each output is seeded by its index, so a
    chunk run twice writes the same files and a job resumed after a dead worker is the
    same dump."""

    recipe = models.ForeignKey(SynthesisRecipe, on_delete=models.CASCADE, related_name="jobs")
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    message = models.TextField(blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    # Source examples drawn from (the plan holds their ids; lists read this instead).
    pool_size = models.PositiveIntegerField(default=0)
    chunk_size = models.PositiveIntegerField(default=200)
    chunks_done = models.JSONField(default=list, blank=True)
    # What the recipe said when the job started, with everything a chunk needs: the pool
    # of source examples, resolved parameters and fitted matching curves.
    plan = models.JSONField(default=dict, blank=True)
    variety = models.JSONField(default=dict, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Last sign of life: chunks sent or a chunk done. A job silent for
    # MLSTRAT_SYNTHESIS_STALL_SECONDS lost its worker; beat sends its missing chunks again.
    progress_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.recipe} job {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def dataset(self):
        return self.recipe.dataset

    @property
    def folder(self) -> str:
        return f"mismatch/jobs/{self.pk}"

    @property
    def table_name(self) -> str:
        return f"{self.folder}/predictions.csv"
