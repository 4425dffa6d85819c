from django.contrib import admin

from .models import Dataset, Example, FigureState, ModelRun, Prediction


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "human_level_error", "created_at"]
    search_fields = ["name", "project__name"]
    list_filter = ["project"]


@admin.register(Example)
class ExampleAdmin(admin.ModelAdmin):
    list_display = ["example_id", "dataset", "split", "source", "label", "original_label"]
    list_filter = ["split", "dataset"]
    search_fields = ["example_id", "label", "source"]
    raw_id_fields = ["dataset"]
    show_full_result_count = False


@admin.register(ModelRun)
class ModelRunAdmin(admin.ModelAdmin):
    list_display = ["name", "dataset", "status", "imported_at"]
    list_filter = ["status"]
    search_fields = ["name", "dataset__name"]


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ["example", "run", "split", "predicted_label", "confidence", "is_error"]
    list_filter = ["split", "is_error"]
    search_fields = ["example__example_id", "run__name", "predicted_label"]
    raw_id_fields = ["run", "example"]
    show_full_result_count = False


@admin.register(FigureState)
class FigureStateAdmin(admin.ModelAdmin):
    list_display = ["run", "requested_at", "enqueued_at"]
    search_fields = ["run__name", "run__dataset__name"]
    raw_id_fields = ["run"]
