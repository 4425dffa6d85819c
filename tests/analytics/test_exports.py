"""The sheet and the summary download as CSV and JSON, streamed and formula-safe."""

import csv
import io
import json

import pytest

from mlstrat.analytics.exports import neutralise_cell
from mlstrat.review.models import Comment

from .builders import category, make_run, review_errors, tick


@pytest.mark.parametrize(
    "value, expected",
    [
        ("=1+1", "'=1+1"),
        ("+33 6", "'+33 6"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("cat", "cat"),
        ("", ""),
        (-0.5, -0.5),
        (None, None),
    ],
)
def test_neutralise_cell(value, expected):
    assert neutralise_cell(value) == expected


@pytest.fixture
def tagged(project, bob, carol):
    run = make_run(project, [("dev", "web", "cat", "dog", 3), ("dev", "web", "cat", "cat", 7)])
    review = review_errors(run)
    evil = category(run.dataset, '=HYPERLINK("http://x")')
    dog = category(run.dataset, "Dog-like")
    tick(run, review, dog, [bob, carol], n=2)
    tick(run, review, evil, [carol], n=1)
    first = review.items.order_by("position").first()
    Comment.objects.create(run=run, example_id=first.example_id, user=bob, text="-looks like a dog")
    return run, review


def read_csv(response):
    assert response.streaming
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_sheet_csv_lists_who_ticked_and_comments(api, carol, tagged):
    run, review = tagged
    api.force_authenticate(carol)
    response = api.get(f"/api/v1/analytics/runs/{run.pk}/export/sheet.csv?review={review.pk}")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    header, *rows = read_csv(response)
    assert "Dog-like" in header and '\'=HYPERLINK("http://x")' in header
    assert len(rows) == 3
    first = dict(zip(header, rows[0], strict=True))
    assert first["Dog-like"] == "bob; carol"
    assert first["comments"] == "bob: -looks like a dog"
    assert first['\'=HYPERLINK("http://x")'] == "carol"


def test_comment_starting_with_a_formula_sign_is_neutralised(api, bob, tagged):
    run, review = tagged
    Comment.objects.filter(run=run).update(text="=cmd|'/c calc'!A1")
    api.force_authenticate(bob)
    _, first, *_ = read_csv(api.get(f"/api/v1/analytics/runs/{run.pk}/export/sheet.csv"))
    assert first[-1] == "bob: =cmd|'/c calc'!A1"  # not at the start of the cell: harmless
    Comment.objects.filter(run=run).delete()


def test_sheet_json_without_review_exports_every_error(api, carol, tagged):
    run, _ = tagged
    api.force_authenticate(carol)
    response = api.get(f"/api/v1/analytics/runs/{run.pk}/export/sheet.json")
    records = json.loads(b"".join(response.streaming_content))
    assert len(records) == 3
    assert records[0]["tags"]["Dog-like"] == ["bob", "carol"]
    assert records[0]["comments"][0]["text"] == "-looks like a dog"


def test_summary_csv_and_json(api, carol, tagged):
    run, review = tagged
    api.force_authenticate(carol)
    rows = read_csv(api.get(f"/api/v1/analytics/runs/{run.pk}/export/summary.csv"))
    dev_error = next(r for r in rows if r[:3] == ["split error", "labels in force", "dev"])
    assert float(dev_error[3]) == pytest.approx(0.3)
    share = next(
        r for r in rows if r[0] == "category share" and r[1] == "dev sample (reference): Dog-like"
    )
    assert float(share[3]) == pytest.approx(1.0)  # 2 of the 2 reviewed (1 item untouched)
    assert share[7] == "2"
    response = api.get(f"/api/v1/analytics/runs/{run.pk}/export/summary.json")
    assert json.loads(b"".join(response.streaming_content))["reviews"][0]["id"] == review.pk


def test_unknown_review_is_a_400(api, carol, tagged):
    run, _ = tagged
    api.force_authenticate(carol)
    response = api.get(f"/api/v1/analytics/runs/{run.pk}/export/sheet.csv?review=999999")
    assert response.status_code == 400
    assert "No such review" in response.content.decode()


def test_unknown_export_kind_is_a_404(api, carol, tagged):
    run, _ = tagged
    api.force_authenticate(carol)
    assert api.get(f"/api/v1/analytics/runs/{run.pk}/export/secrets.csv").status_code == 404


def test_sheet_export_streams_in_chunks_in_review_order(api, carol, tagged, monkeypatch):
    from mlstrat.analytics import exports

    monkeypatch.setattr(exports, "CHUNK_SIZE", 2)
    run, review = tagged
    api.force_authenticate(carol)
    response = api.get(f"/api/v1/analytics/runs/{run.pk}/export/sheet.json?review={review.pk}")
    records = json.loads(b"".join(response.streaming_content))
    expected = list(review.items.order_by("position").values_list("example__example_id", flat=True))
    assert [r["example_id"] for r in records] == expected
    assert records[0]["tags"]["Dog-like"] == ["bob", "carol"]
    assert records[2]["tags"] == {}
