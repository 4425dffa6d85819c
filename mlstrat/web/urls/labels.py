"""Pages of the labels concern; views in mlstrat/web/views/labels.py."""

from django.urls import path

from mlstrat.labels import exports
from mlstrat.web.views import labels

P = "p/<slug:slug>/labels/"

urlpatterns = [
    path(P, labels.label_queue, name="label-queue"),
    path(
        P + "corrections/<int:correction_pk>/decide/",
        labels.correction_decide,
        name="label-correction-decide",
    ),
    path(P + "examples/<int:example_pk>/", labels.example_labels, name="label-example"),
    path(
        P + "examples/<int:example_pk>/propose/",
        labels.example_propose,
        name="label-example-propose",
    ),
    path(
        P + "examples/<int:example_pk>/confirm/",
        labels.example_confirm,
        name="label-example-confirm",
    ),
    path(P + "changes/<int:change_pk>/revert/", labels.change_revert, name="label-change-revert"),
    path(P + "ranking/", labels.label_ranking, name="label-ranking"),
    path(P + "ranking/compute/", labels.ranking_compute, name="label-ranking-compute"),
    path(P + "samples/", labels.label_samples, name="label-samples"),
    path(P + "samples/draw/", labels.sample_draw, name="label-sample-draw"),
    path(P + "samples/check/", labels.sample_check, name="label-sample-check"),
    path(P + "patterns/", labels.label_patterns, name="label-patterns"),
    *[
        path(
            P + f"export/<int:dataset_pk>/{kind}.{fmt}",
            labels.label_export,
            {"kind": kind, "fmt": fmt},
            name=f"label-export-{kind}-{fmt}",
        )
        for kind in exports.KINDS
        for fmt in exports.FORMATS
    ],
]
