"""A page of a run's errors is read in index order, never by fetching and sorting every
error of the run (at 1M examples: 1 ms instead of 34 ms, and the tail of the load test).
Checked on PostgreSQL's plan for the query the sheet really sends, with sequential scans
priced out so the tiny test table cannot hide a missing index."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import DatasetFactory, RunFactory
from tests.services import require_postgresql

from .conftest import make_errors


def plan_nodes(plan):
    yield plan
    for child in plan.get("Plans", ()):
        yield from plan_nodes(child)


@pytest.mark.parametrize("after", [False, True], ids=["first page", "next page"])
def test_a_page_of_errors_is_an_index_range_scan_without_a_sort(api, project, carol, after):
    require_postgresql("Reading query plans")
    run = RunFactory(dataset=DatasetFactory(project=project), name="v1")
    errors = make_errors(run, 5)
    api.force_authenticate(carol)
    url = f"/api/v1/runs/{run.pk}/sheet/"
    if after:
        url += f"?after={errors[1].pk}"  # the keyset cursor of the default order
    with CaptureQueriesContext(connection) as captured:
        assert api.get(url).status_code == 200
    [page_query] = [
        q["sql"]
        for q in captured
        if 'FROM "datasets_prediction"' in q["sql"] and "LIMIT" in q["sql"]
    ]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {page_query}")
        (raw,) = cursor.fetchone()
    plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
    nodes = list(plan_nodes(plan))
    assert not [n for n in nodes if n["Node Type"] in ("Sort", "Incremental Sort")], plan
    scans = [n for n in nodes if n.get("Relation Name") == "datasets_prediction"]
    assert [n.get("Index Name") for n in scans] == ["prediction_errors_task_idx"], plan


def test_the_count_of_one_tasks_errors_can_read_only_the_index(db):
    """The sheet's total of a run's errors on a split, of every task or of one (#15),
    filters on run, split, is_error and task and reads the example: one index holds them
    all, so the count is an index-only scan with no heap fetch per error (at 1M images x
    4 tasks a task's count fetched each of the 65,000 dev errors' rows: 28 ms). A tiny
    test table cannot show the plan, so the index itself is checked."""
    from mlstrat.review.selectors import _run_errors

    read = {"run_id", "split", "is_error", "task", "example_id"}
    where = str(_run_errors(run=RunFactory(), split="dev", task="car").values("example").query)
    assert all(f'"datasets_prediction"."{column}"' in where for column in read), where
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "datasets_prediction")
    covering = [
        name
        for name, c in constraints.items()
        if c["index"]
        and c["columns"][:3] == ["run_id", "split", "is_error"]
        and read <= set(c["columns"])
    ]
    assert covering == ["prediction_errors_task_idx"]
