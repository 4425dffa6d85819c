"""The run dashboard and the runs-compared page, as a member's browser gets them."""

import re

import pytest
from django.urls import reverse

from .builders import category, make_run, review_errors, tick


@pytest.fixture
def run(project):
    run = make_run(
        project,
        [
            ("train", "web", "cat", "cat", 99),
            ("train", "web", "cat", "dog", 1),
            ("train_dev", "web", "cat", "cat", 91),
            ("train_dev", "web", "cat", "dog", 9),
            ("dev", "app", "cat", "cat", 450),
            ("dev", "app", "dog", "dog", 450),
            ("dev", "app", "cat", "dog", 60),
            ("dev", "app", "dog", "cat", 40),
        ],
    )
    run.dataset.human_level_error = 0.0
    run.dataset.save()
    return run


def url(run):
    return reverse("run-dashboard", args=[run.dataset.project.slug, run.pk])


def test_member_sees_every_panel_with_numbers(as_user, carol, bob, run):
    review = review_errors(run)
    tick(run, review, category(run.dataset, "Dog-like"), [bob], n=5)
    tick(run, review, category(run.dataset, "Blurry"), [bob], first=5, n=95)
    html = as_user(carol).get(url(run)).content.decode()
    for panel in (
        "panel-splits",
        "panel-decomposition",
        "panel-shares",
        "panel-labels",
        "panel-general",
        "panel-breakdowns",
    ):
        assert f'id="{panel}"' in html
    assert "10.0%" in html  # dev error
    assert "Variance" in html and "largest" in html
    assert "0.50 pts" in html and "9.50%" in html  # Dog-like ceiling and best error if fixed
    assert "need not add up to 100%" in html
    assert "Majority of the people who reviewed" in html
    assert "Figures as of" in html


def test_confusion_cells_link_to_the_sheet(as_user, carol, run):
    html = as_user(carol).get(url(run)).content.decode()
    sheet = reverse("run-sheet", args=[run.dataset.project.slug, run.pk])
    assert f'href="{sheet}?label=cat&amp;prediction=dog&amp;split=dev"' in html


def test_outsider_gets_404_and_anonymous_logs_in(client, as_user, mallory, run):
    assert client.get(url(run)).status_code == 302
    assert as_user(mallory).get(url(run)).status_code == 404


def test_lead_sets_human_level_error_from_the_dashboard(as_user, bob, run):
    settings_url = reverse("dataset-analysis-settings", args=["cat-app", run.dataset_id])
    response = as_user(bob).post(
        settings_url,
        {"human_level_error": "0.5", "human_source:web": "0.4", "next": url(run)},
    )
    assert response.status_code == 302 and response["Location"] == url(run)
    run.dataset.refresh_from_db()
    assert run.dataset.human_level_error == pytest.approx(0.005)
    assert run.dataset.human_level_error_by_source == {"web": pytest.approx(0.004)}
    assert "0.5%" in as_user(bob).get(url(run)).content.decode()


def test_bad_percentage_is_refused_with_a_reason(as_user, bob, run):
    settings_url = reverse("dataset-analysis-settings", args=["cat-app", run.dataset_id])
    response = as_user(bob).post(
        settings_url, {"human_level_error": "lots", "next": url(run)}, follow=True
    )
    assert "write a percentage" in response.content.decode()
    run.dataset.refresh_from_db()
    assert run.dataset.human_level_error == 0.0


def test_annotator_cannot_change_settings(as_user, carol, run):
    settings_url = reverse("dataset-analysis-settings", args=["cat-app", run.dataset_id])
    assert as_user(carol).post(settings_url, {"team_rule": "any"}).status_code == 403
    assert "Set team rule" not in as_user(carol).get(url(run)).content.decode()


def test_lead_switches_the_team_rule(as_user, bob, run):
    review_errors(run, limit=3)
    settings_url = reverse("dataset-analysis-settings", args=["cat-app", run.dataset_id])
    as_user(bob).post(settings_url, {"team_rule": "any", "next": url(run)})
    assert "Any person who reviewed" in as_user(bob).get(url(run)).content.decode()


def test_names_from_users_are_escaped_and_the_page_obeys_the_csp(as_user, bob, run):
    review = review_errors(run, limit=3)
    tick(run, review, category(run.dataset, "<script>alert(1)</script>"), [bob], n=1)
    html = as_user(bob).get(url(run)).content.decode()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)" in html
    assert not re.search(r"<script(?![^>]*\b(src|type=\"application/json\"))", html)
    assert 'style="' not in html and "onclick" not in html


def test_export_links_download(as_user, carol, run):
    client = as_user(carol)
    html = client.get(url(run)).content.decode()
    link = reverse("run-export", args=["cat-app", run.pk, "summary", "csv"])
    assert link in html
    response = client.get(link)
    assert response.status_code == 200 and response.streaming
    assert b"split error" in b"".join(response.streaming_content)


def test_runs_compared_oldest_to_newest(as_user, carol, run, project):
    newer = make_run(
        project,
        [("dev", "app", "cat", "cat", 98), ("dev", "app", "cat", "dog", 2)],
        dataset=run.dataset,
        name="v2-bigger",
    )
    html = (
        as_user(carol)
        .get(reverse("dataset-compare", args=["cat-app", run.dataset_id]))
        .content.decode()
    )
    assert html.index(run.name) < html.index(newer.name)
    assert "−8.0 pts" in html
    assert 'id="trend-chart"' in html


def test_runs_compared_track_label_errors_across_runs(as_user, bob, run, project):
    incorrect = run.dataset.categories.get(builtin="incorrect_label")
    review = review_errors(run)
    tick(run, review, incorrect, [bob], n=6)
    tick(run, review, category(run.dataset, "Other"), [bob], first=6, n=94)
    make_run(
        project,
        [("dev", "app", "cat", "cat", 980), ("dev", "app", "cat", "dog", 20)],
        dataset=run.dataset,
        name="v2-bigger",
    )
    html = (
        as_user(bob)
        .get(reverse("dataset-compare", args=["cat-app", run.dataset_id]))
        .content.decode()
    )
    row = html[html.index('data-row="label-errors"') :]
    row = row[: row.index("</tr>")]
    assert "6%" in row and "30%" in row and "fix labels" in row
    assert "carried over from" in row


@pytest.mark.parametrize("target", ["//evil.example/", "/\\evil.example/", "https://evil.example/"])
def test_settings_never_redirect_off_site(as_user, bob, run, target):
    settings_url = reverse("dataset-analysis-settings", args=["cat-app", run.dataset_id])
    response = as_user(bob).post(settings_url, {"team_rule": "any", "next": target})
    assert response.status_code == 302
    assert response["Location"] == reverse("dataset-compare", args=["cat-app", run.dataset_id])


def test_dashboard_queries_do_not_grow_with_reviews_or_runs(
    as_user, bob, run, project, django_assert_max_num_queries
):
    client = as_user(bob)
    client.get(url(run))  # computes the snapshot (embedded mode)
    for i in range(5):
        review = review_errors(run, name=f"sample {i}", limit=5)
        tick(run, review, category(run.dataset, f"cat {i}"), [bob], n=2)
        make_run(project, [("dev", "app", "cat", "dog", 1)], dataset=run.dataset)
    client.get(url(run))
    with django_assert_max_num_queries(17):
        assert client.get(url(run)).status_code == 200
    with django_assert_max_num_queries(8):
        client.get(f"/api/v1/analytics/runs/{run.pk}/status/")


def test_correct_predictions_are_not_linked_to_the_error_sheet(as_user, carol, run):
    html = as_user(carol).get(url(run)).content.decode()
    assert "label=cat&amp;prediction=cat" not in html
