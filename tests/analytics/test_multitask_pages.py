"""The dashboard and runs-compared pages of a multi-task dataset: a task menu (?task=,
the first task by default), that task's figures with its coverage, the overview across
tasks; no task UI on a single-task dataset."""

import pytest
from django.urls import reverse

from mlstrat.analytics.services import snapshot_compute
from tests.multitask import make_multitask_dataset, make_multitask_run


@pytest.fixture
def mt_run(project):
    run = make_multitask_run(make_multitask_dataset(project))[0]
    snapshot_compute(run=run)
    return run


def dashboard(run, query=""):
    return reverse("run-dashboard", args=[run.dataset.project.slug, run.pk]) + query


def compare(run, query=""):
    return reverse("dataset-compare", args=[run.dataset.project.slug, run.dataset_id]) + query


def dev_row(html):
    start = html.index('<tr data-split="dev">')
    return html[start : html.index("</tr>", start)]


def test_the_dashboard_shows_the_first_task_with_its_coverage(as_user, carol, mt_run):
    html = as_user(carol).get(dashboard(mt_run)).content.decode()
    assert 'id="panel-tasks"' in html
    assert '<span class="badge task-badge" id="current-task">even</span>' in html
    row = dev_row(html)
    assert "42.9%" in row  # even: 3 wrong of 7 known
    assert "88%" in row and "(1 unknown)" in row  # 7 of 8 known


def test_the_task_menu_switches_the_figures(as_user, carol, mt_run):
    html = as_user(carol).get(dashboard(mt_run, "?task=big")).content.decode()
    assert '<span class="badge task-badge" id="current-task">big</span>' in html
    assert "25.0%" in dev_row(html)  # big: 2 wrong of 8
    assert '<option value="big" selected>big</option>' in html
    assert "export/summary.csv?task=big" in html


def test_the_overview_across_tasks(as_user, carol, mt_run):
    html = as_user(carol).get(dashboard(mt_run)).content.decode()
    # mean of 3/7 and 2/8; images with any task wrong: img0, 1, 2, 5, 6 of 8
    assert 'id="mean-task-error">33.9%' in html
    assert 'id="any-task-wrong">62.5%' in html
    assert 'id="worst-task">even <span class="num">42.9%' in html


def test_an_unknown_task_is_a_404(as_user, carol, mt_run):
    assert as_user(carol).get(dashboard(mt_run, "?task=colour")).status_code == 404
    assert as_user(carol).get(compare(mt_run, "?task=colour")).status_code == 404


def test_runs_compared_per_task(as_user, carol, mt_run):
    html = as_user(carol).get(compare(mt_run, "?task=big")).content.decode()
    assert '<option value="big" selected>big</option>' in html
    assert 'data-row="mean-task-error"' in html
    assert 'data-row="any-task-wrong"' in html


def test_an_outsider_sees_no_task_figures(as_user, mallory, mt_run):
    assert as_user(mallory).get(dashboard(mt_run, "?task=big")).status_code == 404


def test_a_single_task_dashboard_has_no_task_menu(as_user, carol, run_single):
    html = as_user(carol).get(dashboard(run_single)).content.decode()
    assert 'id="panel-tasks"' not in html
    assert 'name="task"' not in html
    html = as_user(carol).get(compare(run_single)).content.decode()
    assert 'name="task"' not in html


@pytest.fixture
def run_single(project):
    from tests.factories import DatasetFactory, RunFactory
    from tests.review.conftest import make_errors

    run = RunFactory(dataset=DatasetFactory(project=project, name="pets"), name="r1")
    make_errors(run, 3)
    snapshot_compute(run=run)
    return run


def test_the_project_page_names_the_tasks(as_user, carol, mt_run):
    html = as_user(carol).get(f"/p/{mt_run.dataset.project.slug}/").content.decode()
    assert '<span class="badge task-badge" data-task="even">even</span>' in html
    assert "16 labels over 2 tasks" in html


def test_the_project_page_shows_a_multitask_runs_overview(as_user, carol, mt_run):
    html = as_user(carol).get(f"/p/{mt_run.dataset.project.slug}/").content.decode()
    start = html.index('class="meta tasks-dev"')
    cell = html[start : html.index("</div>", start)]
    assert "mean over 2 tasks <strong>33.9%</strong>" in cell
    assert "any task wrong 62.5%" in cell
    assert "worst even 42.9%" in cell


def test_the_dashboard_links_to_the_tasks_sheet(as_user, carol, mt_run):
    html = as_user(carol).get(dashboard(mt_run, "?task=big")).content.decode()
    assert f"/runs/{mt_run.pk}/sheet/?task=big" in html
    assert "&amp;task=big" in html  # the confusion matrix's cells keep the task
