"""Staleness in one place: everything that changes what a figure reads marks the run's
figures out of date (the dashboard then says "recomputing" and a worker catches up)."""

import pytest

from mlstrat.analytics.models import AnalysisSnapshot
from mlstrat.analytics.selectors import run_figures
from mlstrat.analytics.services import human_level_error_set, snapshot_compute, team_rule_set
from mlstrat.review import services as review_services
from mlstrat.review.models import ErrorCategory

from .builders import make_run, review_errors


@pytest.fixture
def computed(project, bob):
    run = make_run(project, [("dev", "web", "cat", "dog", 6), ("dev", "web", "cat", "cat", 4)])
    review = review_errors(run, limit=3)
    snapshot_compute(run=run)
    assert not AnalysisSnapshot.objects.get(run=run).is_stale
    return run, review


def _first_example(review):
    return review.items.order_by("position").first().example


CHANGES = {
    "a review is created": lambda run, review, user: review_services.review_create(
        run=run, created_by=user, name="another", sample_size=2, seed=3, split="dev"
    ),
    "a review is extended": lambda run, review, user: review_services.review_extend(
        review=review, by=1
    ),
    "a review is deleted": lambda run, review, user: review_services.review_delete(review=review),
    "an example is marked reviewed": lambda run, review, user: review_services.marks_apply(
        review=review, examples=[_first_example(review)], user=user
    ),
    "a tick": lambda run, review, user: review_services.tag_set(
        run=run,
        example=_first_example(review),
        category=ErrorCategory.objects.create(dataset=run.dataset, name="Dog"),
        user=user,
        review=review,
    ),
    "a comment on a review's sheet": lambda run, review, user: review_services.comment_add(
        run=run, example=_first_example(review), user=user, text="hm", review=review
    ),
    "the reference review is chosen": lambda run, review, user: (
        review_services.reference_review_set(run=run, review=review, user=user)
    ),
    "the team rule": lambda run, review, user: team_rule_set(
        dataset=run.dataset, rule="any", user=user
    ),
    "the human-level error": lambda run, review, user: human_level_error_set(
        dataset=run.dataset, error=0.01
    ),
    "a category is added": lambda run, review, user: review_services.category_create(
        dataset=run.dataset, name="Filter", created_by=user
    ),
}


@pytest.mark.parametrize("change", CHANGES)
def test_the_figures_are_stale_after(change, computed, bob):
    run, review = computed
    CHANGES[change](run, review, bob)
    assert AnalysisSnapshot.objects.get(run=run).is_stale, change


def test_the_dashboard_says_recomputing_after_a_new_review(computed, bob):
    run, _ = computed
    review_services.review_create(run=run, created_by=bob, name="more", sample_size=1, seed=9)
    assert run_figures(run=run)["stale"] is True
