from django.conf import settings
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual

from mlstrat.datasets.models import Dataset, Example, ModelRun, Prediction, Split
from mlstrat.names import CATEGORY_DESCRIPTION_MAX_LENGTH

INCORRECT_LABEL = "incorrect_label"


class ErrorCategory(models.Model):
    """A column of the error-analysis sheet. Archived columns are hidden, their tags kept."""

    BUILTIN_CHOICES = [("", "user-defined"), (INCORRECT_LABEL, "Incorrectly labeled")]

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="categories")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, max_length=CATEGORY_DESCRIPTION_MAX_LENGTH)
    color = models.CharField(max_length=7, default="#4e79a7")
    key = models.CharField(max_length=1, blank=True, default="")
    order = models.PositiveIntegerField(default=0)
    archived = models.BooleanField(default=False)
    builtin = models.CharField(max_length=32, blank=True, default="", choices=BUILTIN_CHOICES)
    # Set when a lead merged this category into another: its ticks moved there, and it
    # stays (archived) so that its audit trail keeps pointing at something.
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset", "name"], name="category_unique_name"),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("description"), CATEGORY_DESCRIPTION_MAX_LENGTH),
                name="category_description_capped",
            ),
            models.UniqueConstraint(
                fields=["dataset", "key"],
                condition=~models.Q(key="") & models.Q(archived=False),
                name="category_unique_active_key",
            ),
            models.UniqueConstraint(
                fields=["dataset", "builtin"],
                condition=~models.Q(builtin=""),
                name="category_unique_builtin",
            ),
            models.CheckConstraint(
                condition=models.Q(color__regex=r"^#[0-9a-fA-F]{6}$"), name="category_color_hex"
            ),
        ]
        ordering = ["dataset", "order", "id"]
        verbose_name_plural = "error categories"

    def __str__(self):
        return self.name


class CategoryAction(models.TextChoices):
    CREATED = "created", "created"
    RENAMED = "renamed", "renamed"
    ARCHIVED = "archived", "archived"
    RESTORED = "restored", "restored"
    MERGED = "merged", "merged"


class CategoryEvent(models.Model):
    """Audit trail of a dataset's categories: who added, renamed, archived, restored or
    merged one, and what it changed (a merge says where the ticks went and how many)."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="+")
    category = models.ForeignKey(ErrorCategory, on_delete=models.CASCADE, related_name="events")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=16, choices=CategoryAction.choices)
    details = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["dataset", "at"], name="category_event_dataset_idx")]
        ordering = ["id"]

    def __str__(self):
        return f"{self.user} {self.action} {self.category}"


class AssignmentMode(models.TextChoices):
    EVERYONE = "everyone", "Everyone tags everything"
    SPLIT = "split", "Split among annotators"


class Review(models.Model):
    """A sample of a run's misclassified examples that a team tags together."""

    run = models.ForeignKey(ModelRun, on_delete=models.CASCADE, related_name="reviews")
    name = models.CharField(max_length=200)
    split = models.CharField(max_length=16, choices=Split.choices, default=Split.DEV)
    # A multi-task dataset's review is for one task, or for all of them ("").
    task = models.CharField(max_length=100, blank=True, default="", db_default="")
    # None: all errors matching the filters.
    sample_size = models.PositiveIntegerField(null=True, blank=True, default=100)
    seed = models.BigIntegerField()
    filters = models.JSONField(default=dict, blank=True)
    assignment = models.CharField(
        max_length=16, choices=AssignmentMode.choices, default=AssignmentMode.EVERYONE
    )
    # Who shares the work when assignment is "split" (kept so an extension splits alike).
    annotators = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.name


class ReviewItem(models.Model):
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="items")
    prediction = models.ForeignKey(Prediction, on_delete=models.CASCADE, related_name="+")
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["review", "example"], name="review_item_unique"),
            models.UniqueConstraint(fields=["review", "position"], name="review_item_position"),
        ]
        ordering = ["review", "position"]

    def __str__(self):
        return f"{self.review} #{self.position}"


class Tag(models.Model):
    """One person's tick of one category on one misclassified example of one run."""

    run = models.ForeignKey(ModelRun, on_delete=models.CASCADE, related_name="tags")
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="tags")
    category = models.ForeignKey(ErrorCategory, on_delete=models.CASCADE, related_name="tags")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # Where the tick was made: a review's sheet, or (null) the run's sheet or the API.
    # Ticks belong to the run; a review counts them once someone reviewed the example there.
    review = models.ForeignKey(
        "Review", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "example", "category", "user"], name="tag_unique_tick"
            ),
        ]
        indexes = [
            models.Index(fields=["run", "example"], name="tag_run_example_idx"),
            models.Index(fields=["run", "category"], name="tag_run_category_idx"),
        ]

    def __str__(self):
        return f"{self.user} ticked {self.category} on {self.example}"


class TagAction(models.TextChoices):
    SET = "set", "set"
    CLEAR = "clear", "clear"


class TagEvent(models.Model):
    """Audit trail: every set or clear a person sent, and whether it changed anything."""

    run = models.ForeignKey(ModelRun, on_delete=models.CASCADE, related_name="+")
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="+")
    category = models.ForeignKey(ErrorCategory, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    action = models.CharField(max_length=8, choices=TagAction.choices)
    changed = models.BooleanField()
    review = models.ForeignKey(
        "Review", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["run", "at"], name="tag_event_run_idx")]
        ordering = ["id"]

    def __str__(self):
        return f"{self.user} {self.action} {self.category} on {self.example}"


class Comment(models.Model):
    run = models.ForeignKey(ModelRun, on_delete=models.CASCADE, related_name="comments")
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="comments")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    text = models.TextField(max_length=5000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["run", "example"], name="comment_run_example_idx")]
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.user} on {self.example}: {self.text[:40]}"


class ReviewMark(models.Model):
    """One person's "I reviewed this example" in one review: made by a tick, an untick or
    a comment on the review's sheet, or by "nothing applies" (key 0); taken back with 0.

    Shares divide by the examples the team reviewed (analytics.figures.review_tally), so
    an error looked at that fits no category stays in the denominator (the "other" row).
    """

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="marks")
    item = models.ForeignKey(ReviewItem, on_delete=models.CASCADE, related_name="marks")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # False: the person took the mark back (kept so teammates' sheets see the change).
    reviewed = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "user"], name="review_mark_unique"),
        ]
        indexes = [models.Index(fields=["review", "updated_at"], name="review_mark_changes_idx")]

    def __str__(self):
        return f"{self.user} reviewed {self.item}" if self.reviewed else f"{self.user} unmarked"


class ReferenceReview(models.Model):
    """The review a lead chose to drive a run's headlines (the label-error card, the
    category panel, runs compared). Without one, the default is the unfiltered dev review
    with the most reviewed examples (analytics.selectors.reference_review)."""

    run = models.OneToOneField(
        ModelRun, on_delete=models.CASCADE, primary_key=True, related_name="reference"
    )
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="+")
    chosen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    chosen_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"reference review of {self.run}: {self.review}"


class SavedView(models.Model):
    """A named sheet (or gallery) state shared with the project: its filters and sort as
    URL parameters, and which category columns it shows, in order ([] = every column)."""

    run = models.ForeignKey(ModelRun, on_delete=models.CASCADE, related_name="saved_views")
    review = models.ForeignKey(
        Review, null=True, blank=True, on_delete=models.CASCADE, related_name="saved_views"
    )
    name = models.CharField(max_length=100)
    params = models.JSONField(default=dict, blank=True)
    columns = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "name"], name="saved_view_unique_name"),
        ]
        ordering = ["name", "id"]

    def __str__(self):
        return self.name
