"""Every figure is in the API, for members only; leads change the settings."""

import pytest

from mlstrat.analytics.services import snapshot_compute

from .builders import category, make_run, review_errors, tick

approx = pytest.approx


@pytest.fixture
def run(project):
    run = make_run(
        project,
        [
            ("train", "web", "cat", "cat", 99),
            ("train", "web", "cat", "dog", 1),
            ("train_dev", "web", "cat", "cat", 91),
            ("train_dev", "web", "cat", "dog", 9),
            ("dev", "app", "cat", "cat", 900),
            ("dev", "app", "cat", "dog", 100),
        ],
    )
    run.dataset.human_level_error = 0.0
    run.dataset.save()
    return run


def test_member_reads_every_figure(api, carol, run):
    api.force_authenticate(carol)
    body = api.get(f"/api/v1/analytics/runs/{run.pk}/").json()
    assert body["ready"] is True and body["as_of"] and body["stale"] is False
    dev = next(s for s in body["splits"] if s["split"] == "dev")
    assert dev["error"]["rate"] == approx(0.10)
    assert body["decomposition"]["largest"] == "variance"
    for key in ("general_table", "by_source", "by_class", "confusion", "reviews", "label_impact"):
        assert key in body


def test_category_shares_in_the_api(api, bob, run):
    review = review_errors(run)
    tick(run, review, category(run.dataset, "Dog-like"), [bob], n=5)
    tick(run, review, category(run.dataset, "Blurry"), [bob], first=5, n=95)
    snapshot_compute(run=run)
    api.force_authenticate(bob)
    body = api.get(f"/api/v1/analytics/runs/{run.pk}/").json()
    dog = next(c for c in body["reviews"][0]["categories"] if c["name"] == "Dog-like")
    assert dog["ceiling"] == approx(0.005) and dog["best_error"] == approx(0.095)


def test_outsider_gets_404(api, mallory, run):
    api.force_authenticate(mallory)
    assert api.get(f"/api/v1/analytics/runs/{run.pk}/").status_code == 404
    assert api.get(f"/api/v1/analytics/datasets/{run.dataset_id}/runs/").status_code == 404
    assert api.get(f"/api/v1/analytics/runs/{run.pk}/export/sheet.csv").status_code == 404
    response = api.patch(
        f"/api/v1/analytics/datasets/{run.dataset_id}/settings/", {"team_rule": "any"}
    )
    assert response.status_code == 404


def test_anonymous_is_refused(api, run):
    assert api.get(f"/api/v1/analytics/runs/{run.pk}/").status_code in (401, 403)


def test_bad_rule_is_a_400_with_a_reason(api, carol, run):
    api.force_authenticate(carol)
    response = api.get(f"/api/v1/analytics/runs/{run.pk}/?rule=unanimous")
    assert response.status_code == 400
    assert "majority or any" in str(response.json())


def test_lead_sets_team_rule_and_human_level_error(api, bob, run):
    api.force_authenticate(bob)
    url = f"/api/v1/analytics/datasets/{run.dataset_id}/settings/"
    response = api.patch(
        url,
        {
            "team_rule": "any",
            "human_level_error": 0.02,
            "human_level_error_by_source": {"app": 0.03},
        },
        format="json",
    )
    assert response.status_code == 200
    assert response.json() == {
        "team_rule": "any",
        "human_level_error": 0.02,
        "human_level_error_by_source": {"app": 0.03},
    }
    body = api.get(f"/api/v1/analytics/runs/{run.pk}/").json()
    assert body["team_rule"] == "any"
    bias = body["decomposition"]["terms"][0]
    assert bias["value"] == approx(0.01 - 0.02)


def test_annotator_cannot_change_settings(api, carol, run):
    api.force_authenticate(carol)
    url = f"/api/v1/analytics/datasets/{run.dataset_id}/settings/"
    assert api.get(url).status_code == 200
    assert api.patch(url, {"team_rule": "any"}).status_code == 403


def test_human_level_error_must_be_a_rate(api, bob, run):
    api.force_authenticate(bob)
    url = f"/api/v1/analytics/datasets/{run.dataset_id}/settings/"
    assert api.patch(url, {"human_level_error": 3}, format="json").status_code == 400


def test_runs_compared_oldest_to_newest(api, carol, run, project):
    newer = make_run(
        project,
        [("dev", "app", "cat", "cat", 98), ("dev", "app", "cat", "dog", 2)],
        dataset=run.dataset,
    )
    api.force_authenticate(carol)
    api.get(f"/api/v1/analytics/runs/{newer.pk}/")  # computes it (embedded mode)
    body = api.get(f"/api/v1/analytics/datasets/{run.dataset_id}/runs/").json()
    assert [r["run"]["name"] for r in body["runs"]] == [run.name, newer.name]
    assert body["runs"][1]["deltas"]["splits"]["dev"] == approx(-0.08)


def test_lead_asks_for_a_recompute(api, bob, carol, run):
    api.force_authenticate(carol)
    assert api.post(f"/api/v1/analytics/runs/{run.pk}/recompute/").status_code == 403
    api.force_authenticate(bob)
    assert api.post(f"/api/v1/analytics/runs/{run.pk}/recompute/").status_code == 202


def test_schema_documents_the_figures(api, carol):
    api.force_authenticate(carol)
    schema = api.get("/api/v1/schema/").content.decode()
    assert "/api/v1/analytics/runs/{id}/" in schema
    assert "/api/v1/analytics/datasets/{id}/runs/" in schema


def test_status_is_cheap_to_poll(api, carol, run):
    api.force_authenticate(carol)
    body = api.get(f"/api/v1/analytics/runs/{run.pk}/status/").json()
    assert body["ready"] is True and body["stale"] is False and body["as_of"]
