from django.contrib import admin

from .models import LabelChange, LabelCorrection


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
