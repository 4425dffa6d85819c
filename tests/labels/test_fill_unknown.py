"""Filling in an unknown label of a multi-task dataset: a proposal from "" to one of the
task's classes, accepted by a lead, turns the example's predictions from neither right nor
wrong into right or wrong, asks for fresh figures, and can be reverted."""

import pytest

from mlstrat.datasets.models import FigureState, Prediction
from mlstrat.labels.models import LabelChange
from mlstrat.labels.services import (
    InvalidLabel,
    correction_accept,
    correction_propose,
    label_change_revert,
)
from tests.multitask import make_multitask_dataset, make_multitask_run

URL = "/api/v1/label-corrections/"


@pytest.fixture
def mt(project):
    return make_multitask_run(make_multitask_dataset(project))


@pytest.fixture
def unknown(mt):
    """img3's `even` label is unknown; the run predicted "no"."""
    return mt[1]["img3"]["even"]


def judged(example):
    return list(Prediction.objects.filter(example=example).values_list("is_error", flat=True))


def test_filling_in_an_unknown_label_judges_its_predictions(unknown, carol, bob):
    assert judged(unknown) == [None]
    proposal = correction_propose(example=unknown, proposed_label="yes", proposed_by=carol)
    assert proposal.from_label == ""
    FigureState.objects.update(requested_at=None)
    correction_accept(correction=proposal, reviewer=bob, expected_version=0)
    unknown.refresh_from_db()
    assert unknown.label == "yes"
    assert judged(unknown) == [True]  # predicted "no"
    assert FigureState.objects.filter(requested_at__isnull=False).exists()
    change = LabelChange.objects.get(example=unknown)
    assert (change.from_label, change.to_label) == ("", "yes")


def test_filling_in_the_predicted_label_makes_it_right(unknown, carol, bob):
    proposal = correction_propose(example=unknown, proposed_label="no", proposed_by=carol)
    correction_accept(correction=proposal, reviewer=bob, expected_version=0)
    assert judged(unknown) == [False]


def test_reverting_a_fill_makes_the_label_unknown_again(unknown, carol, bob):
    proposal = correction_propose(example=unknown, proposed_label="yes", proposed_by=carol)
    correction_accept(correction=proposal, reviewer=bob, expected_version=0)
    label_change_revert(change=LabelChange.objects.get(example=unknown), by=bob)
    unknown.refresh_from_db()
    assert unknown.label == ""
    assert judged(unknown) == [None]


def test_only_the_tasks_example_changes(mt, unknown, carol, bob):
    big = mt[1]["img3"]["big"]
    proposal = correction_propose(example=unknown, proposed_label="yes", proposed_by=carol)
    correction_accept(correction=proposal, reviewer=bob, expected_version=0)
    big.refresh_from_db()
    assert big.label == "no"
    assert judged(big) == [False]


def test_a_label_outside_the_tasks_classes_is_refused(unknown, carol):
    with pytest.raises(InvalidLabel, match="task “even”"):
        correction_propose(example=unknown, proposed_label="7", proposed_by=carol)


def test_the_api_fills_in_an_unknown_label(api, carol, bob, unknown):
    api.force_authenticate(carol)
    response = api.post(URL, {"example": unknown.pk, "proposed_label": "yes"})
    assert response.status_code == 201, response.content
    assert (response.json()["from_label"], response.json()["label_in_force"]) == ("", "")
    pk = response.json()["id"]
    assert api.post(f"{URL}{pk}/accept/", {"expected_version": 0}).status_code == 403
    api.force_authenticate(bob)
    response = api.post(f"{URL}{pk}/accept/", {"expected_version": 0})
    assert response.status_code == 200
    assert response.json()["label_in_force"] == "yes"
    assert judged(unknown) == [True]


def test_an_outsider_cannot_fill_in_a_label(api, mallory, unknown):
    api.force_authenticate(mallory)
    assert api.post(URL, {"example": unknown.pk, "proposed_label": "yes"}).status_code == 404


def test_the_example_page_offers_to_fill_in_the_label(as_user, project, carol, bob, mt, unknown):
    page = as_user(carol).get(f"/p/{project.slug}/labels/examples/{unknown.pk}/")
    html = page.content.decode()
    assert "Fill in the unknown label" in html
    assert 'id="label-in-force">?</strong>' in html
    assert "The label is right" not in html
    assert 'data-task="big"' in html  # the image's other task, linked
    response = as_user(carol).post(
        f"/p/{project.slug}/labels/examples/{unknown.pk}/propose/", {"label": "yes"}
    )
    assert response.status_code == 302
    queue = as_user(bob).get(f"/p/{project.slug}/labels/?dataset={unknown.dataset_id}")
    html = queue.content.decode()
    assert "task even" in html
    assert "? → <strong>yes</strong>" in html


def test_the_balance_check_is_per_task(api, as_user, project, carol, bob, mt, unknown):
    proposal = correction_propose(example=unknown, proposed_label="yes", proposed_by=carol)
    correction_accept(correction=proposal, reviewer=bob, expected_version=0)
    api.force_authenticate(carol)
    url = f"/api/v1/label-balance/?dataset={unknown.dataset_id}"
    body = api.get(f"{url}&task=even").json()
    dev = next(s for s in body["splits"] if s["split"] == "dev")
    assert (body["task"], dev["examples"], dev["corrected"]) == ("even", 8, 1)
    assert [t["task"] for t in body["tasks"]] == ["even", "big"]
    big_dev = next(s for s in body["tasks"][1]["splits"] if s["split"] == "dev")
    assert big_dev["corrected"] == 0
    assert api.get(f"{url}&task=colour").status_code == 400
    html = as_user(carol).get(f"/p/{project.slug}/labels/?dataset={unknown.dataset_id}")
    assert 'data-task="even"' in html.content.decode()


@pytest.mark.parametrize("batch_size", [None, 2])
def test_an_unknown_label_is_not_ranked_as_a_bad_one(mt, carol, bob, batch_size, monkeypatch):
    from mlstrat.labels import services
    from mlstrat.labels.models import LabelScore

    run, images = mt
    Prediction.objects.filter(run=run).update(probabilities={"no": 0.3, "yes": 0.7})
    if batch_size:  # the streaming path (SQLite), else one SQL statement
        monkeypatch.setattr(services.connection, "vendor", "sqlite")
    services.label_scores_compute(run=run, batch_size=batch_size or 5000)
    unknown = images["img3"]["even"]
    assert not LabelScore.objects.filter(example=unknown).exists()
    assert LabelScore.objects.filter(run=run).count() == 15
    # Filled in and ranked, then reverted: unknown again, and out of the ranking again.
    proposal = correction_propose(example=unknown, proposed_label="no", proposed_by=carol)
    correction_accept(correction=proposal, reviewer=bob, expected_version=0)
    services.label_scores_compute(run=run, batch_size=batch_size or 5000)
    assert LabelScore.objects.get(example=unknown).label == "no"
    label_change_revert(change=LabelChange.objects.get(example=unknown), by=bob)
    assert not LabelScore.objects.filter(example=unknown).exists()


def test_correction_patterns_are_per_task(api, as_user, project, carol, bob, mt, unknown):
    for example in (unknown, mt[1]["img4"]["big"]):  # "" → yes on even, no → yes on big
        proposal = correction_propose(example=example, proposed_label="yes", proposed_by=carol)
        correction_accept(correction=proposal, reviewer=bob, expected_version=0)
    api.force_authenticate(carol)
    pairs = api.get("/api/v1/label-patterns/", {"dataset": unknown.dataset_id}).json()["pairs"]
    assert [(p["task"], p["from"], p["to"]) for p in pairs] == [
        ("big", "no", "yes"),
        ("even", "", "yes"),
    ]
    page = as_user(carol).get(f"/p/{project.slug}/labels/patterns/?dataset={unknown.dataset_id}")
    assert "? (unknown)" in page.content.decode()


def test_the_queue_filters_by_task(api, as_user, project, carol, bob, mt, unknown):
    correction_propose(example=unknown, proposed_label="yes", proposed_by=carol)
    correction_propose(example=mt[1]["img4"]["big"], proposed_label="yes", proposed_by=carol)
    queue = f"/p/{project.slug}/labels/?dataset={unknown.dataset_id}"
    html = as_user(bob).get(f"{queue}&task=big").content.decode()
    assert 'data-task="big">task big' in html
    assert 'data-task="even">task even' not in html
    assert '<option value="big" selected>big</option>' in html
    api.force_authenticate(bob)
    found = api.get(URL, {"example__task": "even"}).json()["results"]
    assert [c["example"] for c in found] == [unknown.pk]
