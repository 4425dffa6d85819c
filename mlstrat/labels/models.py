from django.conf import settings
from django.db import models

from mlstrat.datasets.models import Example, ModelRun, Split


class CorrectionStatus(models.TextChoices):
    PENDING = "pending", "pending"
    ACCEPTED = "accepted", "accepted"
    REJECTED = "rejected", "rejected"
    REVERTED = "reverted", "reverted"
    # Another proposal for the same example was accepted first.
    SUPERSEDED = "superseded", "superseded"


class LabelCorrection(models.Model):
    """A proposed new label for an example, reviewed by a lead."""

    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="corrections")
    run = models.ForeignKey(
        ModelRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # "" when the label was unknown: the proposal fills it in.
    from_label = models.CharField(max_length=200, blank=True)
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
    # "" for an unknown label (filled in, or a fill reverted).
    from_label = models.CharField(max_length=200, blank=True)
    to_label = models.CharField(max_length=200, blank=True)
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


class CheckOutcome(models.TextChoices):
    CONFIRMED = "confirmed", "label confirmed"
    CORRECTED = "corrected", "correction proposed"


class CheckOrigin(models.TextChoices):
    ERROR_REVIEW = "error_review", "error review"
    CORRECT_SAMPLE = "correct_sample", "sample of correct predictions"
    RANKING = "ranking", "likely bad labels"
    DECISION = "decision", "lead's decision on a proposal"


class CorrectSample(models.Model):
    """A random sample of examples a run got RIGHT, drawn for label review: errors are not
    the only examples with bad labels, and this sample estimates how many the rest hide."""

    run = models.ForeignKey(ModelRun, on_delete=models.CASCADE, related_name="correct_samples")
    split = models.CharField(max_length=16, choices=Split.choices)
    size = models.PositiveIntegerField()
    seed = models.BigIntegerField()
    # How many correct predictions the sample was drawn from.
    population = models.PositiveIntegerField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.size} correct {self.split} predictions of {self.run}"


class CorrectSampleItem(models.Model):
    sample = models.ForeignKey(CorrectSample, on_delete=models.CASCADE, related_name="items")
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["sample", "example"], name="sample_item_unique"),
            models.UniqueConstraint(fields=["sample", "position"], name="sample_item_position"),
        ]
        ordering = ["sample", "position"]

    def __str__(self):
        return f"{self.sample} #{self.position}"


class LabelCheck(models.Model):
    """Someone looked at an example's label: it was right, or they proposed a correction.

    Counts toward how deeply each split was examined (dev and test alike)."""

    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="label_checks")
    run = models.ForeignKey(
        ModelRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sample_item = models.OneToOneField(
        CorrectSampleItem,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="label_check",
    )
    correction = models.ForeignKey(
        LabelCorrection, null=True, blank=True, on_delete=models.SET_NULL, related_name="checks"
    )
    outcome = models.CharField(max_length=16, choices=CheckOutcome.choices)
    origin = models.CharField(max_length=16, choices=CheckOrigin.choices)
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    checked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["example", "checked_at"], name="label_check_idx")]
        ordering = ["checked_at", "id"]

    def __str__(self):
        return f"{self.example}: {self.outcome}"


class LabelScore(models.Model):
    """How unlikely an example's label in force is under a run's probabilities
    (confident learning): low self-confidence / negative margin = likely a bad label."""

    run = models.ForeignKey(ModelRun, on_delete=models.CASCADE, related_name="label_scores")
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="label_scores")
    split = models.CharField(max_length=16, choices=Split.choices)
    label = models.CharField(max_length=200)
    self_confidence = models.FloatField()
    margin = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "example"], name="label_score_unique"),
        ]
        indexes = [
            models.Index(fields=["run", "split", "self_confidence"], name="label_score_sc_idx"),
            models.Index(fields=["run", "split", "margin"], name="label_score_margin_idx"),
        ]

    def __str__(self):
        return f"{self.example} under {self.run}: {self.self_confidence:.3f}"
