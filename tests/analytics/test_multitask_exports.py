"""Row exports of a multi-task dataset name each row's task and keep one task's rows with
`task`; single-task exports keep their columns."""

import csv
import io
import json

import pytest

from tests.multitask import make_multitask_dataset, make_multitask_run


@pytest.fixture
def mt(project):
    return make_multitask_run(make_multitask_dataset(project))


def read_csv(response):
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_sheet_export_has_a_task_column(api, carol, mt):
    run, _ = mt
    api.force_authenticate(carol)
    header, *rows = read_csv(api.get(f"/api/v1/analytics/runs/{run.pk}/export/sheet.csv"))
    assert header[:3] == ["example_id", "task", "split"]
    assert sorted((r[0], r[1]) for r in rows) == [
        ("img0", "even"),
        ("img1", "even"),
        ("img2", "even"),
        ("img5", "big"),
        ("img6", "big"),
    ]


def test_the_sheet_export_keeps_one_task(api, carol, mt):
    run, _ = mt
    api.force_authenticate(carol)
    response = api.get(f"/api/v1/analytics/runs/{run.pk}/export/sheet.json?task=big")
    records = json.loads(b"".join(response.streaming_content))
    assert [(r["example_id"], r["task"]) for r in records] == [("img5", "big"), ("img6", "big")]
    assert "-big" in response["Content-Disposition"]
    bad = api.get(f"/api/v1/analytics/runs/{run.pk}/export/sheet.csv?task=colour")
    assert bad.status_code == 400


def test_the_page_export_keeps_one_task(as_user, project, carol, mt):
    run, _ = mt
    base = f"/p/{project.slug}/runs/{run.pk}/export/sheet.csv"
    header, *rows = read_csv(as_user(carol).get(f"{base}?task=even"))
    assert {r[1] for r in rows} == {"even"}
    assert as_user(carol).get(f"{base}?task=colour").status_code == 404


def test_the_labels_export_names_tasks_and_unknown_labels(api, carol, mt):
    run, _ = mt
    api.force_authenticate(carol)
    url = f"/api/v1/label-exports/{run.dataset_id}/labels.csv"
    header, *rows = read_csv(api.get(url))
    assert header == [
        "example_id",
        "task",
        "split",
        "source",
        "original_label",
        "label",
        "last_changed_at",
    ]
    assert len(rows) == 16
    img3 = {r[1]: r[5] for r in rows if r[0] == "img3"}
    assert img3 == {"even": "", "big": "no"}
    header, *rows = read_csv(api.get(f"{url}?task=big"))
    assert {r[1] for r in rows} == {"big"} and len(rows) == 8
    assert api.get(f"{url}?task=colour").status_code == 400


def test_an_outsider_cannot_export_a_task(api, mallory, mt):
    run, _ = mt
    api.force_authenticate(mallory)
    response = api.get(f"/api/v1/analytics/runs/{run.pk}/export/sheet.csv?task=even")
    assert response.status_code in (403, 404)
