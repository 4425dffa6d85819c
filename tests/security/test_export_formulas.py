"""Every CSV export (found in the URL conf) neutralises cells a spreadsheet would run:
text beginning with = + - @, a tab, a carriage return or a NUL gets a leading apostrophe."""

import csv
import io

import pytest
from django.db import connection
from django.urls import reverse

from mlstrat.analytics.exports import neutralise_cell
from mlstrat.labels.exports import neutralise
from mlstrat.labels.models import LabelChange
from mlstrat.review.models import Comment, ErrorCategory, Review, ReviewItem, Tag
from tests.factories import (
    DatasetFactory,
    ExampleFactory,
    MembershipFactory,
    PredictionFactory,
    RunFactory,
    UserFactory,
)

from .routes import all_routes

DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "\0")
PAYLOADS = [
    '=HYPERLINK("http://evil.example","x")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
    "\0=1+1",
]
# Export routes, by name: a new export must be added here (the test below checks).
EXPORT_ROUTES = {
    "run-export": ("sheet", "summary"),
    "api-run-export": ("sheet", "summary"),
    "label-export-labels-csv": None,
    "label-export-changes-csv": None,
    "api-label-export-labels-csv": None,
}


def csv_export_route_names():
    return {
        route.name
        for route in all_routes()
        if "export" in route.name and ("fmt" in route.params or "csv" in route.name)
    }


def test_every_csv_export_route_is_checked():
    assert csv_export_route_names() <= set(EXPORT_ROUTES) | {"api-label-export-changes-csv"}


def stored_payloads():
    # PostgreSQL refuses NUL in text (and the import refuses it), so only SQLite can hold it.
    return [p for p in PAYLOADS if connection.vendor == "sqlite" or "\0" not in p]


@pytest.mark.parametrize("value", PAYLOADS)
def test_both_neutralisers_prefix_every_formula_start(value):
    assert neutralise_cell(value) == "'" + value
    assert neutralise(value) == "'" + value


@pytest.fixture
def hostile(project, alice):
    """Every user-written text that reaches an export, beginning with a formula sign."""
    payloads = stored_payloads()
    dataset = DatasetFactory(project=project, name="=photos", class_names=["=cat", "+dog"])
    run = RunFactory(dataset=dataset, name="@run")
    annotator = MembershipFactory(project=project, user=UserFactory(username="@evil")).user
    review = Review.objects.create(run=run, name="-review", seed=1, created_by=alice)
    categories = [
        ErrorCategory.objects.create(dataset=dataset, name=text, key=str(n))
        for n, text in enumerate(payloads)
    ]
    for n, text in enumerate(payloads):
        example = ExampleFactory(
            dataset=dataset, example_id=text + str(n), label="=cat", source=text
        )
        prediction = PredictionFactory(run=run, example=example, predicted_label="+dog")
        ReviewItem.objects.create(review=review, prediction=prediction, example=example, position=n)
        Tag.objects.create(run=run, example=example, category=categories[n], user=annotator)
        Comment.objects.create(run=run, example=example, user=alice, text=text)
        LabelChange.objects.create(
            example=example, from_label="=cat", to_label="+dog", changed_by=annotator, reason=text
        )
    return dataset, run, review


def export_urls(dataset, run, review):
    slug = dataset.project.slug
    urls = []
    for kind in ("sheet", "summary"):
        urls.append(reverse("run-export", args=[slug, run.pk, kind, "csv"]))
        urls.append(reverse("api-run-export", kwargs={"pk": run.pk, "kind": kind, "fmt": "csv"}))
    urls.append(reverse("run-export", args=[slug, run.pk, "sheet", "csv"]) + f"?review={review.pk}")
    for kind in ("labels", "changes"):
        urls.append(reverse(f"label-export-{kind}-csv", args=[slug, dataset.pk]))
        urls.append(reverse(f"api-label-export-{kind}-csv", args=[dataset.pk]))
    return urls


def cells(response):
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return [cell for row in csv.reader(io.StringIO(body.decode())) for cell in row]


def test_no_exported_cell_starts_like_a_formula(client, alice, hostile):
    client.force_login(alice)
    seen = set()
    for url in export_urls(*hostile):
        response = client.get(url)
        assert response.status_code == 200, url
        found = cells(response)
        assert found, url
        bad = [cell for cell in found if cell.startswith(DANGEROUS)]
        assert bad == [], (url, bad)
        seen.update(found)
    # The payloads did reach the exports, neutralised rather than dropped.
    for text in stored_payloads():
        assert any(cell.startswith("'" + text) for cell in seen), text
