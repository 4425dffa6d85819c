from django.contrib import admin

from .models import ImportJob


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "dataset_name", "run_name", "status", "created_at"]
    list_filter = ["status"]
    search_fields = ["dataset_name", "run_name", "message"]
    readonly_fields = ["errors", "timings"]
