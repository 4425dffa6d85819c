from django.contrib import admin

from .models import AnalysisSettings, AnalysisSnapshot, CountRow, RunCounts


@admin.register(AnalysisSnapshot)
class AnalysisSnapshotAdmin(admin.ModelAdmin):
    list_display = ["run", "computed_at", "compute_seconds"]
    search_fields = ["run__name", "run__dataset__name"]


@admin.register(AnalysisSettings)
class AnalysisSettingsAdmin(admin.ModelAdmin):
    list_display = ["dataset", "team_rule", "updated_by", "updated_at"]
    search_fields = ["dataset__name"]


@admin.register(RunCounts)
class RunCountsAdmin(admin.ModelAdmin):
    list_display = ["run", "fingerprint"]
    search_fields = ["run__name", "run__dataset__name"]
    readonly_fields = ["run", "fingerprint", "images"]


@admin.register(CountRow)
class CountRowAdmin(admin.ModelAdmin):
    list_display = ["run", "task", "split", "source", "label", "predicted_label", "examples"]
    list_filter = ["split"]
    search_fields = ["run__name"]
