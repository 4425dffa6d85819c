from django.conf import settings
from django.db import models

from mlstrat.datasets.models import Example, ModelRun


class CorrectionStatus(models.TextChoices):
    PENDING = "pending", "pending"
    ACCEPTED = "accepted", "accepted"
    REJECTED = "rejected", "rejected"
    REVERTED = "reverted", "reverted"


class LabelCorrection(models.Model):
    """A proposed new label for an example, reviewed by a lead."""

    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="corrections")
    run = models.ForeignKey(
        ModelRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_label = models.CharField(max_length=200)
    proposed_label = models.CharField(max_length=200)
    reason = models.TextField(blank=True, max_length=2000)
    status = models.CharField(
        max_length=16, choices=CorrectionStatus.choices, default=CorrectionStatus.PENDING
    )
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    proposed_at = models.DateTimeField(auto_now_add=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.TextField(blank=True, max_length=2000)
    # Bumped on every decision: a reviewer's stale decision is refused (409).
    version = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["status", "proposed_at"], name="correction_queue_idx"),
            models.Index(fields=["example", "status"], name="correction_example_idx"),
        ]
        ordering = ["-proposed_at", "-id"]

    def __str__(self):
        return f"{self.example}: {self.from_label} -> {self.proposed_label} ({self.status})"


class LabelChange(models.Model):
    """History of the label in force: every change, who, when, from, to and why."""

    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="label_changes")
    from_label = models.CharField(max_length=200)
    to_label = models.CharField(max_length=200)
    reason = models.TextField(blank=True, max_length=2000)
    correction = models.ForeignKey(
        LabelCorrection, null=True, blank=True, on_delete=models.SET_NULL, related_name="changes"
    )
    reverts = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reverted_by"
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["example", "changed_at"], name="label_change_idx")]
        ordering = ["changed_at", "id"]

    def __str__(self):
        return f"{self.example}: {self.from_label} -> {self.to_label}"
