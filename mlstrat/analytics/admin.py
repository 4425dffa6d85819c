from django.contrib import admin

from .models import AnalysisSnapshot


@admin.register(AnalysisSnapshot)
class AnalysisSnapshotAdmin(admin.ModelAdmin):
    list_display = ["run", "computed_at", "requested_at", "compute_seconds"]
    search_fields = ["run__name", "run__dataset__name"]
