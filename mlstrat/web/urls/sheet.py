"""Pages of the sheet concern; views in mlstrat/web/views/sheet.py.

- review-list (slug, run pk): the run's reviews with progress, and a form to start one.
- review-sheet (slug, run pk, review pk): the sheet of one review.
- run-sheet (slug, run pk): every misclassified example of the run (?split=, default dev).
- saved-view-delete (slug, run pk, view pk): POST, its author or a lead.
- review-gallery, run-gallery: the same rows as large thumbnails (same parameters).
- review-reference (slug, run pk): POST, leads: the review that drives the headlines.
- review-delete (slug, run pk, review pk): POST, its creator or a lead.
Sheets and galleries take ?label= &prediction= &source= &category=<id> &untagged=1 &assignee=me
&sort=confidence|-confidence &after=<cursor> &view=mine|team|agreement &open=<example pk>
&cols=<category ids shown, in order>.
"""

from django.urls import path

from mlstrat.web.views import sheet

urlpatterns = [
    path("p/<slug:slug>/runs/<int:run_pk>/reviews/", sheet.review_list, name="review-list"),
    path(
        "p/<slug:slug>/runs/<int:run_pk>/reviews/<int:review_pk>/",
        sheet.review_sheet,
        name="review-sheet",
    ),
    path("p/<slug:slug>/runs/<int:run_pk>/sheet/", sheet.run_sheet, name="run-sheet"),
    path(
        "p/<slug:slug>/runs/<int:run_pk>/reviews/reference/",
        sheet.review_reference,
        name="review-reference",
    ),
    path(
        "p/<slug:slug>/runs/<int:run_pk>/reviews/<int:review_pk>/delete/",
        sheet.review_delete,
        name="review-delete",
    ),
    path(
        "p/<slug:slug>/runs/<int:run_pk>/reviews/<int:review_pk>/gallery/",
        sheet.review_gallery,
        name="review-gallery",
    ),
    path("p/<slug:slug>/runs/<int:run_pk>/gallery/", sheet.run_gallery, name="run-gallery"),
    path(
        "p/<slug:slug>/runs/<int:run_pk>/views/<int:view_pk>/delete/",
        sheet.saved_view_delete,
        name="saved-view-delete",
    ),
]
