"""The sheet of a multi-task dataset: a row is one task's error, shows every task's label
and prediction for the same image ("" unknown), filters by task (in the URL like every
filter), with one more query per page whatever its size; single-task sheets unchanged."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from mlstrat.review.services import category_create, review_create, tag_set
from tests.multitask import add_image, make_multitask_dataset, make_multitask_run
from tests.review.test_sheet_page import config, sheet_url


@pytest.fixture
def mt_dataset(project):
    return make_multitask_dataset(project)


@pytest.fixture
def mt(mt_dataset):
    return make_multitask_run(mt_dataset)


def test_each_row_shows_every_tasks_label_and_prediction(as_user, project, carol, mt):
    run, _ = mt
    data = config(as_user(carol).get(sheet_url(project, run)))
    assert data["tasks"] == ["even", "big"]
    assert data["taskClasses"] == {"even": ["no", "yes"], "big": ["no", "yes"]}
    rows = {(r["example_id"], r["task"]): r for r in data["rows"]}
    assert set(rows) == {
        ("img0", "even"),
        ("img1", "even"),
        ("img2", "even"),
        ("img5", "big"),
        ("img6", "big"),
    }
    siblings = {t["task"]: t for t in rows[("img5", "big")]["tasks"]}
    assert [t["task"] for t in rows[("img5", "big")]["tasks"]] == ["even", "big"]
    assert (siblings["even"]["label"], siblings["even"]["prediction"]) == ("no", "no")
    assert siblings["even"]["is_error"] is False
    assert (siblings["big"]["label"], siblings["big"]["prediction"]) == ("yes", "no")
    assert siblings["big"]["is_error"] is True


def test_an_unknown_sibling_label_is_empty_and_neither_right_nor_wrong(as_user, project, carol, mt):
    run, _ = mt
    add_image(run, "img9", {"even": "", "big": "no"}, {"even": "yes", "big": "yes"})
    data = config(as_user(carol).get(sheet_url(project, run, query="?task=big")))
    row = next(r for r in data["rows"] if r["example_id"] == "img9")
    even = next(t for t in row["tasks"] if t["task"] == "even")
    assert (even["label"], even["prediction"], even["is_error"]) == ("", "yes", None)


def test_the_task_filter_keeps_that_tasks_errors(as_user, project, carol, mt):
    run, _ = mt
    response = as_user(carol).get(sheet_url(project, run, query="?task=big"))
    data = config(response)
    assert {r["task"] for r in data["rows"]} == {"big"}
    assert len(data["rows"]) == 2
    assert data["query"]["task"] == "big"
    assert b'<option value="big" selected>big</option>' in response.content


def test_a_review_of_all_tasks_filters_by_task_too(as_user, project, alice, carol, mt):
    run, _ = mt
    review = review_create(run=run, created_by=alice, name="all", sample_size=None, seed=1)
    data = config(as_user(carol).get(sheet_url(project, run, review, "?task=even")))
    assert {(r["example_id"], r["task"]) for r in data["rows"]} == {
        ("img0", "even"),
        ("img1", "even"),
        ("img2", "even"),
    }


def test_an_unknown_task_is_a_400(as_user, api, project, carol, mt):
    run, _ = mt
    assert as_user(carol).get(sheet_url(project, run, query="?task=colour")).status_code == 400
    api.force_authenticate(carol)
    assert api.get(f"/api/v1/runs/{run.pk}/sheet/?task=colour").status_code == 400


def test_the_api_rows_carry_the_task_and_its_siblings(api, carol, alice, mt):
    run, _ = mt
    review = review_create(run=run, created_by=alice, name="b", task="big", sample_size=None)
    api.force_authenticate(carol)
    rows = api.get(f"/api/v1/reviews/{review.pk}/rows/").json()["rows"]
    assert [r["task"] for r in rows] == ["big", "big"]
    assert all(len(r["tasks"]) == 2 for r in rows)
    rows = api.get(f"/api/v1/runs/{run.pk}/sheet/?task=even").json()["rows"]
    assert [r["example_id"] for r in rows] == ["img0", "img1", "img2"]


def test_an_outsider_cannot_read_a_task_sheet(api, as_user, project, mallory, mt):
    run, _ = mt
    assert as_user(mallory).get(sheet_url(project, run, query="?task=even")).status_code == 404
    api.force_authenticate(mallory)
    assert api.get(f"/api/v1/runs/{run.pk}/sheet/?task=even").status_code in (403, 404)


def test_a_tick_on_a_tasks_error_stays_on_that_task(as_user, project, alice, carol, mt):
    run, images = mt
    review = review_create(run=run, created_by=alice, name="e", task="even", sample_size=None)
    dark = category_create(dataset=run.dataset, name="Dark", key="d", created_by=alice)
    tag_set(run=run, example=images["img0"]["even"], category=dark, user=carol, review=review)
    data = config(as_user(carol).get(sheet_url(project, run)))
    ticked = {(r["example_id"], r["task"]) for r in data["rows"] if r["tags"]}
    assert ticked == {("img0", "even")}


def _count(client, url):
    cache.clear()
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_multitask_sheet_uses_a_fixed_number_of_queries(as_user, project, carol, mt):
    run, _ = mt
    client = as_user(carol)
    small = _count(client, sheet_url(project, run))
    for i in range(10, 60):
        add_image(run, f"img{i}", {"even": "yes", "big": "no"}, {"even": "no", "big": "yes"})
    big = _count(client, sheet_url(project, run))
    assert big == small
    assert big <= 28  # the single-task run sheet's bound (26), + siblings + task classes


def test_a_single_task_sheet_has_no_task_ui(as_user, project, carol, run, errors):
    response = as_user(carol).get(sheet_url(project, run))
    data = config(response)
    assert data["tasks"] == []
    assert data["rows"][0]["tasks"] == []
    assert data["rows"][0]["task"] == ""
    assert b'name="task"' not in response.content


def test_incorrectly_labeled_is_suggested_again_on_that_task_only(api, project, carol, bob):
    dataset = make_multitask_dataset(project, name="two-runs")
    older = make_multitask_run(dataset, name="older")[0]
    run, images = make_multitask_run(dataset, name="newer")
    older.imported_at = run.imported_at - timedelta(days=1)
    older.save(update_fields=["imported_at"])
    incorrect = dataset.categories.get(builtin="incorrect_label")
    doubted = images["img5"]["big"]  # labelled yes, predicted no by both runs
    tag_set(run=older, example=doubted, category=incorrect, user=bob, proposed_label="no")
    assert doubted.corrections.get().from_label == "yes"
    api.force_authenticate(carol)
    rows = api.get(f"/api/v1/runs/{run.pk}/sheet/").json()["rows"]
    suggested = {(r["example_id"], r["task"]): r["suggested_label"] for r in rows}
    assert suggested[("img5", "big")] == "no"
    assert suggested[("img0", "even")] is None


def test_the_run_sheets_footer_and_progress_count_the_tasks_errors(
    as_user, api, project, carol, mt
):
    run, _ = mt
    data = config(as_user(carol).get(sheet_url(project, run, query="?task=big")))
    assert (data["footer"]["total"], data["progress"]["total"]) == (2, 2)
    data = config(as_user(carol).get(sheet_url(project, run)))
    assert data["footer"]["total"] == 5
    api.force_authenticate(carol)
    changes = f"/api/v1/runs/{run.pk}/changes/"
    assert api.get(f"{changes}?task=even").json()["progress"]["total"] == 3
    assert api.get(f"{changes}?task=colour").status_code == 400


def test_a_tasks_sheet_offers_that_tasks_classes(as_user, project, carol, mt):
    run, _ = mt
    run.dataset.class_names = ["no", "yes", "maybe"]  # every task's classes together
    run.dataset.task_class_names = {"even": ["no", "yes"], "big": ["no", "yes"]}
    run.dataset.save()
    data = config(as_user(carol).get(sheet_url(project, run, query="?task=big")))
    assert data["choices"]["labels"] == ["no", "yes"]
    data = config(as_user(carol).get(sheet_url(project, run)))
    assert data["choices"]["labels"] == ["no", "yes", "maybe"]
