from django.contrib import admin

from .models import (
    CategoryEvent,
    Comment,
    ErrorCategory,
    ReferenceReview,
    Review,
    ReviewItem,
    ReviewMark,
    SavedView,
    Tag,
    TagEvent,
)


@admin.register(ErrorCategory)
class ErrorCategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "dataset", "key", "order", "archived", "builtin"]
    list_filter = ["archived", "builtin"]
    search_fields = ["name", "description", "dataset__name"]


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["name", "run", "split", "sample_size", "seed", "assignment", "created_at"]
    search_fields = ["name", "run__name"]


@admin.register(ReviewItem)
class ReviewItemAdmin(admin.ModelAdmin):
    list_display = ["review", "example", "position", "assignee"]
    search_fields = ["example__example_id", "review__name"]
    raw_id_fields = ["review", "prediction", "example", "assignee"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["example", "category", "user", "run", "created_at"]
    search_fields = ["example__example_id", "category__name", "user__username"]
    raw_id_fields = ["run", "example", "category", "user"]


@admin.register(TagEvent)
class TagEventAdmin(admin.ModelAdmin):
    list_display = ["at", "user", "action", "changed", "category", "example"]
    list_filter = ["action", "changed"]
    search_fields = ["example__example_id", "user__username"]
    raw_id_fields = ["run", "example", "category", "user"]


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ["example", "user", "run", "created_at"]
    search_fields = ["text", "example__example_id", "user__username"]
    raw_id_fields = ["run", "example", "user"]


@admin.register(ReviewMark)
class ReviewMarkAdmin(admin.ModelAdmin):
    list_display = ["review", "item", "user", "reviewed", "updated_at"]
    list_filter = ["reviewed"]
    raw_id_fields = ["review", "item", "user"]
    show_full_result_count = False


@admin.register(ReferenceReview)
class ReferenceReviewAdmin(admin.ModelAdmin):
    list_display = ["run", "review", "chosen_by", "chosen_at"]
    raw_id_fields = ["run", "review", "chosen_by"]


@admin.register(CategoryEvent)
class CategoryEventAdmin(admin.ModelAdmin):
    """The category audit trail: read it here, never edit it."""

    list_display = ["at", "user", "action", "category", "dataset"]
    list_filter = ["action"]
    search_fields = ["category__name", "user__username"]
    raw_id_fields = ["dataset", "category", "user"]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    list_display = ["name", "run", "review", "created_by", "created_at"]
    search_fields = ["name", "run__name"]
    raw_id_fields = ["run", "review", "created_by"]
