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
