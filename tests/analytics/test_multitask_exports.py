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


def summary_rows(response) -> dict:
    """(section, item, split) -> (value, k, n) of a summary CSV export."""
    header, *rows = read_csv(response)
    return {tuple(r[:3]): (r[3], r[6], r[7]) for r in rows}


def cells(r) -> tuple:
    return tuple("" if r[key] is None else str(r[key]) for key in ("rate", "k", "n"))


def figures_rows(figures) -> dict:
    """The same keys and values, from the figures API's JSON (null: an empty cell)."""
    rows = {}
    for row in figures["splits"]:
        for item, key in (("labels in force", "error"), ("original labels", "original_error")):
            rows[("split error", item, row["split"])] = cells(row[key])
    for part, key in (("error per source", "by_source"), ("error per class", "by_class")):
        for row in figures[key]:
            for split, r in row["splits"].items():
                if r["n"]:
                    rows[(part, row["key"], split)] = cells(r)
    return rows


@pytest.mark.parametrize("door", ["api", "page"])
@pytest.mark.parametrize("task", ["even", "big"])
def test_the_summary_export_is_the_figures_of_the_task_asked(
    api, as_user, project, carol, mt, door, task
):
    run, _ = mt
    api.force_authenticate(carol)
    figures = api.get(f"/api/v1/analytics/runs/{run.pk}/?task={task}").json()
    if door == "api":
        response = api.get(f"/api/v1/analytics/runs/{run.pk}/export/summary.csv?task={task}")
    else:
        page = f"/p/{project.slug}/runs/{run.pk}/export/summary.csv?task={task}"
        response = as_user(carol).get(page)
    exported = summary_rows(response)
    assert exported[("task", task, "")][0] == ""
    expected = figures_rows(figures)
    assert expected and {key: exported[key] for key in expected} == expected


def test_an_unknown_task_for_the_summary_export_names_the_tasks(api, as_user, project, carol, mt):
    run, _ = mt
    api.force_authenticate(carol)
    for kind in ("summary", "sheet"):
        response = api.get(f"/api/v1/analytics/runs/{run.pk}/export/{kind}.csv?task=colour")
        assert response.status_code == 400
        assert "even, big" in response.json()["task"][0]
    page = f"/p/{project.slug}/runs/{run.pk}/export/summary.csv?task=colour"
    assert as_user(carol).get(page).status_code == 404  # as every page of an unknown task
