"""Pages of the data-mismatch concern; views in mlstrat/web/views/mismatch.py.

- mismatch-dataset (slug, dataset pk): how train differs from dev (?run= for its errors).
- mismatch-measure: POST, admins: measure examples without characteristics.
- mismatch-review-create / mismatch-review / mismatch-review-figures: train-vs-dev reviews.
- mismatch-overlays: POST, leads: upload an overlay set.
- mismatch-recipe-create / mismatch-recipe / mismatch-recipe-delete: synthesis recipes.
- mismatch-job / mismatch-job-download (slug, job pk): a job's progress and its dump.
"""

from django.urls import path

from mlstrat.web.views import mismatch

D = "p/<slug:slug>/datasets/<int:dataset_pk>/mismatch/"

urlpatterns = [
    path(D, mismatch.dataset_mismatch, name="mismatch-dataset"),
    path(D + "measure/", mismatch.measure, name="mismatch-measure"),
    path(D + "reviews/", mismatch.review_create, name="mismatch-review-create"),
    path(D + "reviews/<int:char_review_pk>/", mismatch.review_sheet, name="mismatch-review"),
    path(
        D + "reviews/<int:char_review_pk>/figures/",
        mismatch.review_figures,
        name="mismatch-review-figures",
    ),
    path(D + "overlays/", mismatch.overlay_upload, name="mismatch-overlays"),
    path(D + "recipes/", mismatch.recipe_create, name="mismatch-recipe-create"),
    path(D + "recipes/<int:recipe_pk>/", mismatch.recipe_page, name="mismatch-recipe"),
    path(
        D + "recipes/<int:recipe_pk>/delete/",
        mismatch.recipe_delete,
        name="mismatch-recipe-delete",
    ),
    path(
        "p/<slug:slug>/mismatch/jobs/<int:synthesis_job_pk>/",
        mismatch.job_page,
        name="mismatch-job",
    ),
    path(
        "p/<slug:slug>/mismatch/jobs/<int:synthesis_job_pk>/dump.zip",
        mismatch.job_download,
        name="mismatch-job-download",
    ),
]
