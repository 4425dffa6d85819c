from django.conf import settings
from django.db import models

from mlstrat.datasets.models import Dataset, FigureState, ModelRun


class AnalysisSnapshot(models.Model):
    """A run's figures as last computed by a worker, shown at once by the dashboard.

    Whether they are out of date is the run's FigureState (datasets/staleness.py):
    `requested_at` later than `computed_at` means a recompute is pending, and the
    dashboard shows the figures with their "as of" time and says they are catching up.
    """

    run = models.OneToOneField(ModelRun, on_delete=models.CASCADE, related_name="snapshot")
    figures = models.JSONField(default=dict)
    computed_at = models.DateTimeField(null=True, blank=True)
    compute_seconds = models.FloatField(null=True, blank=True)

    def __str__(self):
        return f"snapshot of {self.run}"

    @property
    def is_stale(self) -> bool:
        from mlstrat.datasets.staleness import is_stale

        state = FigureState.objects.filter(run_id=self.run_id).first()
        return is_stale(state=state, computed_at=self.computed_at)


class TeamRule(models.TextChoices):
    MAJORITY = "majority", "Majority of the people who reviewed the example"
    ANY = "any", "Any person who reviewed the example"


class AnalysisSettings(models.Model):
    """What a lead chose for a dataset's dashboards: how several annotators' ticks count."""

    dataset = models.OneToOneField(
        Dataset, on_delete=models.CASCADE, related_name="analysis_settings"
    )
    team_rule = models.CharField(max_length=16, choices=TeamRule.choices, default=TeamRule.MAJORITY)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "analysis settings"

    def __str__(self):
        return f"analysis settings of {self.dataset}"


class RunCounts(models.Model):
    """A run's prediction counts kept in step with its labels (analytics/counts.py): built
    once when the run is imported, moved by every label change, read by each recompute.

    `fingerprint` is queries.prediction_fingerprint as of the counts (null: never built);
    a reader finding another one (a label written around the label services, a run
    imported again) rebuilds them. The row is also the lock that orders a rebuild and the
    label changes of the run's dataset."""

    run = models.OneToOneField(
        ModelRun, on_delete=models.CASCADE, primary_key=True, related_name="counts"
    )
    fingerprint = models.JSONField(null=True, blank=True)
    # Multi-task runs: per split, images with a task wrong and images with every label
    # unknown (queries.image_counts).
    images = models.JSONField(default=dict, blank=True)

    def __str__(self):
        return f"counts of {self.run}"


class CountRow(models.Model):
    """One group of queries.prediction_counts: a run's predictions of one task, split,
    source, label in force and predicted label, and what they count."""

    run = models.ForeignKey(ModelRun, on_delete=models.CASCADE, related_name="+", db_index=False)
    task = models.CharField(max_length=100, blank=True)
    split = models.CharField(max_length=16)
    source = models.CharField(max_length=200, blank=True)
    label = models.CharField(max_length=200, blank=True)
    predicted_label = models.CharField(max_length=200)
    examples = models.IntegerField(default=0)
    unknown = models.IntegerField(default=0)
    errors = models.IntegerField(default=0)
    original_examples = models.IntegerField(default=0)
    original_errors = models.IntegerField(default=0)
    corrected = models.IntegerField(default=0)
    confidence_bins = models.JSONField(default=list)
    confidence_sums = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "task", "split", "source", "label", "predicted_label"],
                name="countrow_unique_group",
            )
        ]

    def __str__(self):
        group = f"{self.task}/{self.split}/{self.source}"
        return f"{self.run_id} {group}: {self.label} -> {self.predicted_label}"
