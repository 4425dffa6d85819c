from django.db import models

from mlstrat.datasets.models import ModelRun


class AnalysisSnapshot(models.Model):
    """A run's figures as last computed by a worker, shown at once by the dashboard.

    `requested_at` later than `computed_at` means a recompute is pending: the
    dashboard shows the figures with their "as of" time and says they are catching up.
    """

    run = models.OneToOneField(ModelRun, on_delete=models.CASCADE, related_name="snapshot")
    figures = models.JSONField(default=dict)
    computed_at = models.DateTimeField(null=True, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)
    compute_seconds = models.FloatField(null=True, blank=True)

    def __str__(self):
        return f"snapshot of {self.run}"

    @property
    def is_stale(self) -> bool:
        if self.computed_at is None:
            return True
        return self.requested_at is not None and self.requested_at > self.computed_at
