from django.contrib import admin

from .models import (
    CharacteristicNothing,
    CharacteristicReview,
    CharacteristicReviewItem,
    CharacteristicTick,
    ExampleCharacteristics,
    OverlayImage,
    OverlaySet,
    SynthesisJob,
    SynthesisRecipe,
)


@admin.register(ExampleCharacteristics)
class ExampleCharacteristicsAdmin(admin.ModelAdmin):
    list_display = ["example", "split", "source", "brightness", "contrast", "sharpness", "noise"]
    list_filter = ["split"]
    search_fields = ["example__example_id", "source"]
    raw_id_fields = ["example", "dataset"]


@admin.register(CharacteristicReview)
class CharacteristicReviewAdmin(admin.ModelAdmin):
    list_display = ["name", "dataset", "size", "seed", "blind", "per_source", "created_at"]
    search_fields = ["name", "dataset__name"]


@admin.register(CharacteristicReviewItem)
class CharacteristicReviewItemAdmin(admin.ModelAdmin):
    list_display = ["review", "position", "example", "split", "source"]
    search_fields = ["review__name", "example__example_id"]
    raw_id_fields = ["example"]


@admin.register(CharacteristicTick)
class CharacteristicTickAdmin(admin.ModelAdmin):
    list_display = ["item", "category", "user", "created_at"]
    search_fields = ["category__name", "user__username"]
    raw_id_fields = ["item"]


@admin.register(CharacteristicNothing)
class CharacteristicNothingAdmin(admin.ModelAdmin):
    list_display = ["item", "user", "created_at"]
    search_fields = ["user__username"]
    raw_id_fields = ["item"]


@admin.register(OverlaySet)
class OverlaySetAdmin(admin.ModelAdmin):
    list_display = ["name", "dataset", "created_by", "created_at"]
    search_fields = ["name", "dataset__name"]


@admin.register(OverlayImage)
class OverlayImageAdmin(admin.ModelAdmin):
    list_display = ["name", "overlay_set"]
    search_fields = ["name", "overlay_set__name"]


@admin.register(SynthesisRecipe)
class SynthesisRecipeAdmin(admin.ModelAdmin):
    list_display = ["name", "dataset", "count", "seed", "created_by", "updated_at"]
    search_fields = ["name", "dataset__name"]


@admin.register(SynthesisJob)
class SynthesisJobAdmin(admin.ModelAdmin):
    list_display = ["pk", "recipe", "status", "done", "total", "attempts", "created_at"]
    list_filter = ["status"]
    search_fields = ["recipe__name", "message"]
    exclude = ["plan"]
