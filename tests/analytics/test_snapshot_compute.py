"""A run's snapshot holds the right counts; the figures read from it are the issue's."""

import pytest

from mlstrat.analytics.selectors import run_figures
from mlstrat.analytics.services import human_level_error_set, snapshot_compute, team_rule_set
from mlstrat.review.models import ErrorCategory
from tests.factories import UserFactory

from .builders import category, make_run, review_errors, tick

approx = pytest.approx


@pytest.fixture
def run(project):
    return make_run(
        project,
        [
            ("train", "web", "cat", "cat", 99),
            ("train", "web", "cat", "dog", 1),
            ("train_dev", "web", "cat", "cat", 91),
            ("train_dev", "web", "dog", "cat", 9),
            ("dev", "app", "cat", "cat", 450),
            ("dev", "app", "dog", "dog", 450),
            ("dev", "app", "cat", "dog", 60),
            ("dev", "app", "dog", "cat", 40),
        ],
    )


def splits(figs):
    return {row["split"]: row for row in figs["splits"]}


def test_split_errors_come_from_the_predictions(run):
    snapshot_compute(run=run)
    figs = run_figures(run=run)
    by_split = splits(figs)
    assert by_split["train"]["error"]["rate"] == approx(0.01)
    assert by_split["train_dev"]["error"]["rate"] == approx(0.09)
    assert by_split["dev"]["error"]["rate"] == approx(0.10)
    assert by_split["dev"]["examples"] == 1000
    assert by_split["test"]["error"]["rate"] is None


def test_decomposition_uses_the_human_level_error_set_later(run):
    snapshot_compute(run=run)
    human_level_error_set(dataset=run.dataset, error=0.0)
    figs = run_figures(run=run)
    assert figs["decomposition"]["largest"] == "variance"
    values = {t["key"]: t["value"] for t in figs["decomposition"]["terms"]}
    assert values["variance"] == approx(0.08)
    assert values["overfitting_dev"] is None


def test_five_dogs_in_a_hundred_reviewed_errors(run, bob):
    dog = category(run.dataset, "Dog-like")
    review = review_errors(run)
    tick(run, review, dog, [bob], n=5)
    blurry = category(run.dataset, "Blurry")
    tick(run, review, blurry, [bob], first=5, n=95)
    snapshot_compute(run=run)
    shares = {c["name"]: c for c in run_figures(run=run)["reviews"][0]["categories"]}
    assert shares["Dog-like"]["share"] == approx(0.05)
    assert shares["Dog-like"]["ceiling"] == approx(0.005)
    assert shares["Dog-like"]["best_error"] == approx(0.095)
    assert shares["Dog-like"]["share_low"] < 0.05 < shares["Dog-like"]["share_high"]


def test_team_rule_majority_or_any(run, bob, carol):
    dog, blurry = category(run.dataset, "Dog-like"), category(run.dataset, "Blurry")
    review = review_errors(run, limit=10)
    tick(run, review, dog, [bob, carol], n=10)
    tick(run, review, blurry, [bob], n=4)
    snapshot_compute(run=run)
    majority = {c["name"]: c["k"] for c in run_figures(run=run)["reviews"][0]["categories"]}
    assert majority["Dog-like"] == 10 and majority["Blurry"] == 0
    team_rule_set(dataset=run.dataset, rule="any", user=bob)
    figs = run_figures(run=run)
    assert figs["team_rule"] == "any"
    assert {c["name"]: c["k"] for c in figs["reviews"][0]["categories"]}["Blurry"] == 4


def test_archived_category_still_counts_and_is_flagged(run, bob):
    old = category(run.dataset, "Old idea")
    review = review_errors(run, limit=10)
    tick(run, review, old, [bob], n=3)
    ErrorCategory.objects.filter(pk=old.pk).update(archived=True)
    snapshot_compute(run=run)
    old_share = next(
        c for c in run_figures(run=run)["reviews"][0]["categories"] if c["name"] == "Old idea"
    )
    assert old_share["k"] == 3 and old_share["archived"] is True


def test_label_error_impact_from_incorrectly_labeled_ticks(run, bob):
    incorrect = run.dataset.categories.get(builtin="incorrect_label")
    review = review_errors(run)
    tick(run, review, incorrect, [bob], n=6)
    tick(run, review, category(run.dataset, "Other"), [bob], first=6, n=94)
    snapshot_compute(run=run)
    impact = run_figures(run=run)["label_impact"]
    assert impact["due_to_labels"] == approx(0.006)
    assert impact["other_causes"] == approx(0.094)
    assert impact["worth_fixing_labels"] is False


def test_label_errors_carried_to_a_better_run_become_worth_fixing(run, bob, project):
    incorrect = run.dataset.categories.get(builtin="incorrect_label")
    review = review_errors(run)
    tick(run, review, incorrect, [bob], n=6)
    tick(run, review, category(run.dataset, "Other"), [bob], first=6, n=94)
    snapshot_compute(run=run)
    better = make_run(
        project,
        [("dev", "app", "cat", "cat", 980), ("dev", "app", "cat", "dog", 20)],
        dataset=run.dataset,
    )
    snapshot_compute(run=better)
    impact = run_figures(run=better)["label_impact"]
    assert impact["labels_share"] == approx(0.30)
    assert impact["worth_fixing_labels"] is True
    assert "fixing dev/test labels has become worth it" in impact["verdict"]
    assert run.name in impact["source"]


def test_corrected_labels_show_both_error_rates(project):
    run = make_run(
        project,
        [
            ("dev", "web", "cat", "cat", 90),
            ("dev", "web", "dog", "dog", 5, "cat"),  # relabelled cat -> dog, now right
            ("dev", "web", "cat", "dog", 5),
        ],
    )
    snapshot_compute(run=run)
    figs = run_figures(run=run)
    dev = splits(figs)["dev"]
    assert figs["labels_corrected"] == 5
    assert dev["error"]["rate"] == approx(0.05)
    assert dev["original_error"]["rate"] == approx(0.10)


def test_error_per_source_class_and_confusion(run):
    snapshot_compute(run=run)
    figs = run_figures(run=run)
    by_source = {row["key"]: row["splits"] for row in figs["by_source"]}
    assert by_source["app"]["dev"]["rate"] == approx(0.10)
    assert by_source["web"]["dev"]["rate"] is None
    by_class = {row["key"]: row["splits"] for row in figs["by_class"]}
    assert by_class["cat"]["dev"]["k"] == 60 and by_class["cat"]["dev"]["n"] == 510
    cat_row = next(r for r in figs["confusion"]["dev"]["rows"] if r["label"] == "cat")
    cells = {c["predicted"]: c["count"] for c in cat_row["cells"]}
    assert cells == {"cat": 450, "dog": 60, "bird": 0}


def test_general_table_columns_per_source(run):
    human_level_error_set(dataset=run.dataset, error=0.01, by_source={"web": 0.01})
    snapshot_compute(run=run)
    columns = {c["source"]: c for c in run_figures(run=run)["general_table"]["columns"]}
    assert columns["web"]["trained"]["rate"] == approx(0.01)
    assert columns["web"]["not_trained"]["rate"] == approx(0.09)
    assert columns["web"]["human"] == 0.01
    assert columns["app"]["trained"]["rate"] is None
    assert columns["app"]["not_trained"]["rate"] == approx(0.10)


def test_reviewed_counts_only_touched_items(run, bob):
    review = review_errors(run, limit=10)
    tick(run, review, category(run.dataset, "Dog-like"), [UserFactory(), bob], n=3)
    snapshot_compute(run=run)
    r = run_figures(run=run)["reviews"][0]
    assert (r["items"], r["reviewed"]) == (10, 3)
