import pytest

from mlstrat.review.models import Review
from mlstrat.review.services import review_create, tag_set


def url(project, run):
    return f"/p/{project.slug}/runs/{run.pk}/reviews/"


def test_the_run_lists_its_reviews_with_progress(
    as_user, project, alice, carol, run, errors, blurry
):
    review = review_create(run=run, created_by=alice, name="Round one", sample_size=4, seed=1)
    example = review.items.first().example
    tag_set(run=run, example=example, category=blurry, user=carol, review=review)
    html = as_user(carol).get(url(project, run)).content.decode()
    assert "Round one" in html
    assert "reviewed 1 of 4" in html


def test_a_member_starts_a_review_from_the_form(as_user, project, carol, run, errors):
    response = as_user(carol).post(
        url(project, run),
        {
            "name": "Mine",
            "split": "dev",
            "sample_size": "5",
            "seed": "12",
            "assignment": "everyone",
        },
    )
    review = Review.objects.get(name="Mine")
    assert response.status_code == 302
    assert response["Location"] == f"/p/{project.slug}/runs/{run.pk}/reviews/{review.pk}/"
    assert (review.items.count(), review.seed, review.created_by) == (5, 12, carol)


def test_the_form_can_take_all_errors_with_a_filter(as_user, project, bob, carol, run, errors):
    as_user(bob).post(
        url(project, run),
        {
            "name": "Split",
            "all_errors": "1",
            "label": "cat",
            "assignment": "split",
            "annotators": ["bob", "carol"],
        },
    )
    review = Review.objects.get(name="Split")
    assert review.items.count() == len(errors) and review.sample_size is None
    assert review.filters == {"label": ["cat"]}
    assert review.items.filter(assignee=carol).count() == len(errors) // 2


def test_a_bad_form_is_explained(as_user, project, carol, run, errors):
    response = as_user(carol).post(url(project, run), {"name": ""}, follow=True)
    assert "A review needs a name." in response.content.decode()
    assert not Review.objects.exists()
    response = as_user(carol).post(
        url(project, run), {"name": "x", "metadata": "nokey"}, follow=True
    )
    assert "key=value" in response.content.decode()


def test_the_project_home_links_to_the_reviews(as_user, project, carol, run):
    html = as_user(carol).get(f"/p/{project.slug}/").content.decode()
    assert url(project, run) in html


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("sample_size", str(2**31), "at most 2147483647"),
        ("sample_size", str(10**30), "at most 2147483647"),
        ("seed", str(2**63), "from 0 to 9223372036854775807"),
        ("seed", "-1", "from 0 to 9223372036854775807"),
    ],
)
def test_a_size_or_seed_beyond_range_is_explained(
    as_user, project, carol, run, errors, field, value, reason
):
    response = as_user(carol).post(
        url(project, run), {"name": "x", "split": "dev", field: value}, follow=True
    )
    assert response.status_code == 200
    assert reason in response.content.decode()
    assert not Review.objects.exists()
