"""Reviews of a multi-task dataset: a review is for one task (its errors only) or for all
tasks; the task is checked against the dataset's tasks; unknown labels are never errors."""

import pytest
from django.core.exceptions import ValidationError

from mlstrat.review.services import category_create, marks_apply, review_create, tag_set
from tests.multitask import make_multitask_dataset, make_multitask_run


@pytest.fixture
def mt_dataset(project):
    return make_multitask_dataset(project)


@pytest.fixture
def mt_run(mt_dataset):
    return make_multitask_run(mt_dataset)[0]


def sampled(review):
    return sorted(review.items.values_list("example__example_id", "example__task"))


def test_a_task_review_samples_that_tasks_errors_only(mt_run, alice):
    review = review_create(run=mt_run, created_by=alice, name="even", task="even", sample_size=None)
    assert review.task == "even"
    assert sampled(review) == [("img0", "even"), ("img1", "even"), ("img2", "even")]


def test_a_review_of_all_tasks_samples_every_tasks_errors(mt_run, alice):
    review = review_create(run=mt_run, created_by=alice, name="all", sample_size=None)
    assert review.task == ""
    assert len(sampled(review)) == 5
    assert ("img3", "even") not in sampled(review)  # unknown label: neither right nor wrong


def test_an_unknown_task_is_refused(mt_run, alice):
    with pytest.raises(ValidationError) as exc:
        review_create(run=mt_run, created_by=alice, name="x", task="colour")
    assert "even, big" in str(exc.value)


def test_a_single_task_dataset_takes_no_task(run, alice, errors):
    with pytest.raises(ValidationError):
        review_create(run=run, created_by=alice, name="x", task="even")
    assert review_create(run=run, created_by=alice, name="x", task="").task == ""


def test_the_api_starts_a_task_review(api, carol, mt_run):
    api.force_authenticate(carol)
    response = api.post(
        "/api/v1/reviews/",
        {"run": mt_run.pk, "name": "big", "task": "big", "sample_size": None},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["task"] == "big"
    detail = api.get(f"/api/v1/reviews/{response.json()['id']}/").json()
    assert detail["task"] == "big"
    assert detail["progress"]


def test_the_api_refuses_an_unknown_task(api, carol, mt_run):
    api.force_authenticate(carol)
    response = api.post(
        "/api/v1/reviews/", {"run": mt_run.pk, "name": "x", "task": "colour"}, format="json"
    )
    assert response.status_code == 400
    assert "task" in response.json()


def test_an_outsider_cannot_start_a_task_review(api, mallory, mt_run):
    api.force_authenticate(mallory)
    response = api.post(
        "/api/v1/reviews/", {"run": mt_run.pk, "name": "x", "task": "even"}, format="json"
    )
    assert response.status_code in (403, 404)


def test_the_reviews_page_starts_a_task_review(client, carol, mt_run):
    client.force_login(carol)
    url = f"/p/{mt_run.dataset.project.slug}/runs/{mt_run.pk}/reviews/"
    page = client.get(url)
    assert page.status_code == 200
    assert b'<select name="task">' in page.content
    response = client.post(url, {"name": "even look", "task": "even", "all_errors": "1"})
    assert response.status_code == 302
    assert mt_run.reviews.get().task == "even"


def test_the_reviews_page_shows_a_bad_task_as_an_error(client, carol, mt_run):
    client.force_login(carol)
    url = f"/p/{mt_run.dataset.project.slug}/runs/{mt_run.pk}/reviews/"
    response = client.post(url, {"name": "x", "task": "colour"}, follow=True)
    assert "Pick one of even, big" in response.content.decode()
    assert not mt_run.reviews.exists()


def test_a_single_task_reviews_page_has_no_task_choice(client, carol, run, errors):
    client.force_login(carol)
    page = client.get(f"/p/{run.dataset.project.slug}/runs/{run.pk}/reviews/")
    assert b'name="task"' not in page.content


def test_each_task_has_its_own_default_reference_review(client, carol, mt_run, alice):
    even = review_create(run=mt_run, created_by=alice, name="even", task="even", sample_size=None)
    big = review_create(run=mt_run, created_by=alice, name="big", task="big", sample_size=None)
    review_create(run=mt_run, created_by=alice, name="all", sample_size=None)  # none reviewed
    for review in (even, big):
        marks_apply(review=review, examples=[review.items.first().example], user=carol)
    client.force_login(carol)
    html = client.get(f"/p/{mt_run.dataset.project.slug}/runs/{mt_run.pk}/reviews/").content
    assert html.decode().count('data-reference="1"') == 2


def test_a_task_reviews_ceilings_use_that_tasks_error(api, alice, carol, mt_run):
    review = review_create(run=mt_run, created_by=alice, name="big", task="big", sample_size=None)
    dark = category_create(dataset=mt_run.dataset, name="Dark", key="d", created_by=alice)
    examples = [item.example for item in review.items.order_by("position")]
    tag_set(run=mt_run, example=examples[0], category=dark, user=carol, review=review)
    marks_apply(review=review, examples=examples, user=carol)
    api.force_authenticate(carol)
    figures = api.get(f"/api/v1/reviews/{review.pk}/figures/").json()
    row = next(c for c in figures["categories"] if c["name"] == "Dark")
    # big: 2 wrong of 8 known dev labels (E = 25%); Dark on 1 of 2 reviewed
    assert (row["share"], row["ceiling"]) == (pytest.approx(0.5), pytest.approx(0.125))


def test_the_api_lists_a_tasks_reviews(api, alice, carol, mt_run):
    review_create(run=mt_run, created_by=alice, name="even", task="even", sample_size=None)
    review_create(run=mt_run, created_by=alice, name="all", sample_size=None)
    api.force_authenticate(carol)
    found = api.get("/api/v1/reviews/", {"run": mt_run.pk, "task": "even"}).json()["results"]
    assert [r["name"] for r in found] == ["even"]
