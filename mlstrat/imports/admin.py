from django.contrib import admin

from .models import ImportJob, ImportUpload


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "dataset_name", "run_name", "status", "attempts", "created_at"]
    list_filter = ["status"]
    search_fields = ["dataset_name", "run_name", "message"]
    readonly_fields = ["errors", "timings"]


@admin.register(ImportUpload)
class ImportUploadAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "file_name", "received", "size", "updated_at"]
    readonly_fields = ["received", "size"]
