"""Figures per task (#15), on the worked four-task dump with unknown labels: each task's
error leaves unknown labels out of numerator and denominator, with the coverage beside
it; the hand-computed errors differ from counting unknowns as wrong or as right. Every
surface (figures API, runs compared, summary export) shows the same value."""

import csv
import io
from fractions import Fraction

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from mlstrat.analytics import figures, queries, selectors
from mlstrat.analytics.services import snapshot_compute
from mlstrat.datasets.models import Example, ModelRun, Prediction
from mlstrat.imports import services as imports
from mlstrat.imports.models import JobStatus
from mlstrat.labels.models import LabelChange
from mlstrat.labels.services import correction_accept, correction_propose, label_change_revert
from tests.imports.builders import TASKS, multitask_rows, zip_dump

approx = pytest.approx

# Dev, by hand from tests/imports/builders.MULTITASK: (wrong, known, unknown).
DEV = {
    "pedestrian": (2, 6, 2),  # d2, d5 wrong; d3, d4 unknown
    "car": (2, 7, 1),  # d2, d5 wrong; d6 unknown
    "stop_sign": (2, 4, 4),  # d6, d7 wrong; d1..d4 unknown
    "traffic_light": (1, 7, 1),  # d8 wrong; d4 unknown
}
# The same errors if unknown labels were counted, as wrong or as right (over all 8): the
# predictions of unknown labels are all "wrong" or all "right" then.
AS_WRONG = {"pedestrian": 4 / 8, "car": 3 / 8, "stop_sign": 6 / 8, "traffic_light": 2 / 8}
AS_RIGHT = {"pedestrian": 2 / 8, "car": 2 / 8, "stop_sign": 2 / 8, "traffic_light": 1 / 8}


@pytest.fixture
def import_dump(project, alice, django_capture_on_commit_callbacks):
    def _import(table, *, run="v1"):
        upload = SimpleUploadedFile("dump.zip", zip_dump(table).getvalue())
        with django_capture_on_commit_callbacks(execute=True):
            job = imports.import_job_create(
                project=project, user=alice, dataset_name="street", run_name=run, upload=upload
            )
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED, job.errors
        run = ModelRun.objects.get(name=run)
        snapshot_compute(run=run)
        return run

    return _import


@pytest.fixture
def run(import_dump):
    return import_dump(multitask_rows())


def dev_row(figs):
    return next(r for r in figs["splits"] if r["split"] == "dev")


@pytest.mark.parametrize("task", TASKS)
def test_each_task_error_leaves_unknown_labels_out(run, task):
    wrong, known, unknown = DEV[task]
    figs = selectors.run_figures(run=run, task=task)
    dev = dev_row(figs)
    assert (dev["error"]["k"], dev["error"]["n"]) == (wrong, known)
    assert dev["error"]["rate"] == approx(wrong / known)
    assert dev["error"]["rate"] != approx(AS_WRONG[task])
    assert dev["error"]["rate"] != approx(AS_RIGHT[task])
    assert (dev["coverage"]["k"], dev["coverage"]["n"]) == (known, known + unknown)
    assert dev["unknown"] == unknown
    assert figs["task"] == task and figs["tasks"] == TASKS


def test_the_decomposition_per_task(run):
    stop = selectors.run_figures(run=run, task="stop_sign")["decomposition"]
    # train 1 of 4 wrong (t4), train-dev 0 of 2, dev 2 of 4.
    assert stop["levels"]["train"] == approx(0.25)
    terms = {t["key"]: t["value"] for t in stop["terms"]}
    assert terms["variance"] == approx(-0.25)
    assert terms["data_mismatch"] == approx(0.5)
    assert stop["largest"] == "data_mismatch"
    car = selectors.run_figures(run=run, task="car")["decomposition"]
    assert {t["key"]: t["value"] for t in car["terms"]}["data_mismatch"] == approx(2 / 7)


def test_per_class_errors_confusion_and_precision_recall_per_task(run):
    figs = selectors.run_figures(run=run, task="stop_sign")
    by_class = {row["key"]: row["splits"]["dev"] for row in figs["by_class"]}
    # Known on dev: d5 0→0, d6 0→1, d7 1→0, d8 1→1 (the unknowns' "0"s are not counted).
    assert (by_class["0"]["k"], by_class["0"]["n"]) == (1, 2)
    assert (by_class["1"]["k"], by_class["1"]["n"]) == (1, 2)
    assert "" not in figs["classes"]
    matrix = figs["confusion"]["dev"]
    assert [[c["count"] for c in row["cells"]] for row in matrix["rows"]] == [[1, 1], [1, 1]]
    ped = selectors.run_figures(run=run, task="pedestrian")["class_metrics"]["dev"]
    one = next(c for c in ped["classes"] if c["label"] == "1")
    # Known: d1 1→1, d2 0→1, d5 1→0, d6 0→0, d7 1→1, d8 0→0.
    assert (one["tp"], one["predicted"], one["support"]) == (2, 3, 3)
    assert one["precision"] == approx(2 / 3) and one["recall"] == approx(2 / 3)
    assert ped["examples"] == 6 and ped["accuracy"] == approx(4 / 6)


def test_the_overview_across_tasks(run):
    overview = selectors.run_figures(run=run)["overview"]
    dev = overview["splits"]["dev"]
    mean = sum(Fraction(w, n) for w, n, _ in DEV.values()) / 4
    assert dev["mean_error"] == approx(float(mean))
    # Every dev image has a known label; d2, d5 (pedestrian), d6, d7 (stop sign) and d8
    # (traffic light) have a task wrong. d1, d3, d4 have none (d4 knows only its car).
    assert (dev["any_wrong"]["k"], dev["any_wrong"]["n"]) == (5, 8)
    assert (dev["pooled_error"]["k"], dev["pooled_error"]["n"]) == (7, 24)
    assert overview["worst_task"] == "stop_sign"
    assert overview["worst_error"] == approx(0.5)
    assert overview["worst_largest_gap"]["key"] == "data_mismatch"
    assert overview["worst_largest_gap"]["value"] == approx(0.5)
    assert overview["splits"]["train"]["any_wrong"]["k"] == 1  # t4's stop sign
    by_task = {t["task"]: t for t in overview["per_task"]}
    assert by_task["stop_sign"]["splits"]["dev"]["coverage"]["rate"] == approx(0.5)


def test_an_image_with_every_label_unknown_is_left_out_of_any_wrong(import_dump):
    table = multitask_rows()
    d4 = next(row for row in table if row["example_id"] == "d4")
    d4["label:car"] = "?"
    run = import_dump(table)
    dev = selectors.run_figures(run=run)["overview"]["splits"]["dev"]
    assert (dev["any_wrong"]["k"], dev["any_wrong"]["n"], dev["images"]) == (5, 7, 8)


def test_filling_an_unknown_label_changes_the_task_figures(run, alice):
    example = Example.objects.get(example_id="d6", task="car")
    prediction = Prediction.objects.get(example=example)
    assert prediction.is_error is None
    proposal = correction_propose(example=example, proposed_label="0", proposed_by=alice)
    correction_accept(correction=proposal, reviewer=alice, expected_version=proposal.version)
    prediction.refresh_from_db()
    assert prediction.is_error is True  # predicted "1", now known to be "0"
    snapshot_compute(run=run)
    dev = dev_row(selectors.run_figures(run=run, task="car"))
    assert (dev["error"]["k"], dev["error"]["n"], dev["unknown"]) == (3, 8, 0)
    assert dev["coverage"]["rate"] == 1.0
    # The other tasks do not move.
    ped = dev_row(selectors.run_figures(run=run, task="pedestrian"))
    assert (ped["error"]["k"], ped["error"]["n"]) == (2, 6)
    # Reverting the fill makes the label unknown again: neither right nor wrong.
    label_change_revert(change=LabelChange.objects.get(example=example), by=alice)
    prediction.refresh_from_db()
    assert prediction.is_error is None
    snapshot_compute(run=run)
    dev = dev_row(selectors.run_figures(run=run, task="car"))
    assert (dev["error"]["k"], dev["error"]["n"], dev["unknown"]) == (2, 7, 1)


def test_calibration_counts_only_known_labels(import_dump):
    table = multitask_rows()
    for row in table:
        row["prob:car"] = "0.8" if row["prediction:car"] == "1" else "0.3"
    run = import_dump(table)
    calibration = selectors.run_figures(run=run, task="car")["calibration"]["dev"]
    assert calibration["n"] == 7  # d6's car is unknown
    assert selectors.run_figures(run=run, task="pedestrian")["calibration"]["dev"] is None


def test_one_scan_of_the_predictions_makes_every_task(run, monkeypatch):
    calls = []
    original = queries._prediction_count_query
    monkeypatch.setattr(
        queries, "_prediction_count_query", lambda **kw: calls.append(1) or original(**kw)
    )
    snapshot_compute(run=run)
    assert len(calls) == 1
    figures_stored = run.snapshot.figures if hasattr(run, "snapshot") else None
    assert figures_stored is None or sorted(figures_stored["by_task"]) == sorted(TASKS)


def test_the_api_takes_a_task_and_refuses_an_unknown_one(api, alice, run):
    api.force_authenticate(alice)
    body = api.get(f"/api/v1/analytics/runs/{run.pk}/?task=car").json()
    assert body["task"] == "car"
    assert dev_row(body)["error"]["k"] == 2 and dev_row(body)["error"]["n"] == 7
    assert body["overview"]["worst_task"] == "stop_sign"
    default = api.get(f"/api/v1/analytics/runs/{run.pk}/").json()
    assert default["task"] == "pedestrian"
    response = api.get(f"/api/v1/analytics/runs/{run.pk}/?task=bus")
    assert response.status_code == 400
    assert "no task “bus”" in response.json()["task"][0]
    assert "pedestrian, car, stop_sign, traffic_light" in response.json()["task"][0]


def test_a_single_task_run_refuses_a_task(api, alice, project):
    from .builders import make_run

    run = make_run(project, [("dev", "web", "cat", "dog", 2)])
    snapshot_compute(run=run)
    api.force_authenticate(alice)
    response = api.get(f"/api/v1/analytics/runs/{run.pk}/?task=car")
    assert response.status_code == 400
    assert "has no tasks" in response.json()["task"][0]
    body = api.get(f"/api/v1/analytics/runs/{run.pk}/").json()
    assert body["task"] == "" and body["tasks"] == [] and body["overview"] is None


def test_runs_compared_per_task(api, alice, import_dump):
    table = multitask_rows()
    first = import_dump(table)
    for row in table:
        row["prediction:car"] = row["label:car"] if row["label:car"] not in ("", "?") else "1"
    second = import_dump(table, run="v2")
    compared = selectors.runs_compared(dataset=first.dataset, task="car")
    assert compared["task"] == "car"
    runs = {r["run"]["name"]: r for r in compared["runs"]}
    assert runs["v1"]["splits"]["dev"] == approx(2 / 7)
    assert runs["v2"]["splits"]["dev"] == 0
    assert runs["v2"]["deltas"]["splits"]["dev"] == approx(-2 / 7)
    assert runs["v2"]["overview"]["dev"]["any_wrong"] == approx(5 / 8)
    api.force_authenticate(alice)
    body = api.get(f"/api/v1/analytics/datasets/{first.dataset_id}/runs/?task=stop_sign").json()
    assert [r["splits"]["dev"] for r in body["runs"]] == [0.5, 0.5]
    assert api.get(f"/api/v1/analytics/datasets/{first.dataset_id}/runs/?task=x").status_code == 400
    assert second.pk


def test_every_surface_shows_the_same_task_error(api, alice, run):
    """One truth per task: selectors, figures API, runs compared, summary export."""
    api.force_authenticate(alice)
    for task, (wrong, known, _) in DEV.items():
        shown = {
            "selector": dev_row(selectors.run_figures(run=run, task=task))["error"]["rate"],
            "api": dev_row(api.get(f"/api/v1/analytics/runs/{run.pk}/?task={task}").json())[
                "error"
            ]["rate"],
            "runs compared": api.get(
                f"/api/v1/analytics/datasets/{run.dataset_id}/runs/?task={task}"
            ).json()["runs"][0]["splits"]["dev"],
        }
        response = api.get(f"/api/v1/analytics/runs/{run.pk}/export/summary.csv?task={task}")
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert ["task", task] == rows[2][:2]
        export = next(r for r in rows if r[:3] == ["split error", "labels in force", "dev"])
        shown["export"] = float(export[3])
        assert (int(export[6]), int(export[7])) == (wrong, known)
        assert all(value == approx(wrong / known) for value in shown.values()), shown


def test_the_review_api_error_is_the_review_task(run):
    assert selectors.split_error(run=run, split="dev", task="stop_sign") == 0.5
    # A review of every task samples from them all: the pooled error.
    assert selectors.split_error(run=run, split="dev") == approx(7 / 24)


def test_tasks_overview_is_pure_and_worked():
    overview = figures.tasks_overview(
        tasks=["a", "b"],
        errors={"a": {"dev": (1, 3)}, "b": {"dev": (0, 2)}},
        images={"dev": {"images": 3, "known": 3, "wrong": 1}},
        decompositions={},
    )
    dev = overview["splits"]["dev"]
    assert dev["mean_error"] == approx(1 / 6)
    assert dev["any_wrong"]["rate"] == approx(1 / 3)
    assert overview["worst_task"] == "a" and overview["worst_largest_gap"] is None
    assert overview["splits"]["test"]["mean_error"] is None
    assert figures.coverage(3, 1)["rate"] == 0.75


def test_the_project_page_overview_agrees_with_the_dashboard(run):
    entry = selectors.runs_overview(runs=[run])[run.pk]
    overview = selectors.run_figures(run=run)["overview"]
    dev = overview["splits"]["dev"]
    assert entry["tasks_dev"]["mean_error"] == approx(dev["mean_error"])
    assert entry["tasks_dev"]["any_wrong"] == dev["any_wrong"]
    assert entry["tasks_dev"]["worst_task"] == "stop_sign"
    # dev_error stays the first task's, as on the default dashboard.
    assert entry["dev_error"]["k"] == 2 and entry["dev_error"]["n"] == 6


def test_the_summary_export_carries_the_overview(api, alice, run):
    api.force_authenticate(alice)
    response = api.get(f"/api/v1/analytics/runs/{run.pk}/export/summary.csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    any_wrong = next(r for r in rows if r[:3] == ["overview", "any task wrong", "dev"])
    assert (int(any_wrong[6]), int(any_wrong[7])) == (5, 8)
    worst = next(r for r in rows if r[1].startswith("worst task"))
    assert worst[1] == "worst task: stop_sign" and float(worst[3]) == 0.5
    coverage = next(r for r in rows if r[:3] == ["coverage", "labels known", "dev"])
    assert (int(coverage[6]), int(coverage[7])) == (6, 8)  # pedestrian, the first task
