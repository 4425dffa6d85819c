from django.contrib import admin

from .models import (
    CorrectSample,
    CorrectSampleItem,
    LabelChange,
    LabelCheck,
    LabelCorrection,
    LabelScore,
)


@admin.register(LabelCorrection)
class LabelCorrectionAdmin(admin.ModelAdmin):
    list_display = [
        "example",
        "from_label",
        "proposed_label",
        "status",
        "proposed_by",
        "proposed_at",
    ]
    list_filter = ["status"]
    search_fields = ["example__example_id", "proposed_label", "reason"]
    raw_id_fields = ["example", "run", "proposed_by", "reviewed_by"]


@admin.register(LabelChange)
class LabelChangeAdmin(admin.ModelAdmin):
    list_display = ["example", "from_label", "to_label", "changed_by", "changed_at"]
    search_fields = ["example__example_id", "reason"]
    raw_id_fields = ["example", "correction", "reverts", "changed_by"]


@admin.register(LabelCheck)
class LabelCheckAdmin(admin.ModelAdmin):
    list_display = ["example", "outcome", "origin", "checked_by", "checked_at"]
    list_filter = ["outcome", "origin"]
    search_fields = ["example__example_id"]
    raw_id_fields = ["example", "run", "sample_item", "correction", "checked_by"]


@admin.register(CorrectSample)
class CorrectSampleAdmin(admin.ModelAdmin):
    list_display = ["run", "split", "size", "seed", "population", "created_by", "created_at"]
    search_fields = ["run__name"]
    raw_id_fields = ["run", "created_by"]


@admin.register(LabelScore)
class LabelScoreAdmin(admin.ModelAdmin):
    list_display = ["example", "run", "split", "label", "self_confidence", "margin"]
    search_fields = ["example__example_id", "label"]
    raw_id_fields = ["run", "example"]


@admin.register(CorrectSampleItem)
class CorrectSampleItemAdmin(admin.ModelAdmin):
    list_display = ["sample", "position", "example"]
    search_fields = ["example__example_id"]
    raw_id_fields = ["sample", "example"]
