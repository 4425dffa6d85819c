from django.contrib import admin

from .models import AnalysisSettings, AnalysisSnapshot


@admin.register(AnalysisSnapshot)
class AnalysisSnapshotAdmin(admin.ModelAdmin):
    list_display = ["run", "computed_at", "compute_seconds"]
    search_fields = ["run__name", "run__dataset__name"]


@admin.register(AnalysisSettings)
class AnalysisSettingsAdmin(admin.ModelAdmin):
    list_display = ["dataset", "team_rule", "updated_by", "updated_at"]
    search_fields = ["dataset__name"]
