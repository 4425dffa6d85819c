"""Every data-mismatch page renders for members and is hidden from outsiders."""

import pytest

from mlstrat.mismatch import services

from .builders import categories, make_dataset


@pytest.fixture
def world(project, alice, bob, carol):
    dataset, run = make_dataset(project)
    categories(dataset, bob)
    review = services.characteristic_review_create(
        dataset=dataset, created_by=bob, name="Train vs dev", size=10, seed=3
    )
    recipe = services.recipe_create(
        dataset=dataset,
        created_by=bob,
        name="blurry",
        transforms=[{"name": "GaussianBlur", "params": {"sigma": "match"}}],
        count=30,
        seed=4,
    )
    return dataset, run, review, recipe


def test_the_comparison_page_leads_with_the_largest_difference(as_user, carol, world):
    dataset = world[0]
    response = as_user(carol).get(f"/p/cat-app/datasets/{dataset.pk}/mismatch/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "dev is much blurrier than train" in text.lower()
    assert 'id="review-form"' not in text  # annotators do not start reviews


def test_a_lead_sees_the_forms_and_a_suggested_recipe(as_user, bob, world):
    response = as_user(bob).get(f"/p/cat-app/datasets/{world[0].pk}/mismatch/")
    text = response.content.decode()
    assert 'id="review-form"' in text and 'id="suggest-recipe"' in text
    assert "GaussianBlur(sigma=match)" in text


def test_sheet_figures_recipe_and_job_pages_render(as_user, bob, world):
    dataset, _, review, recipe = world
    client = as_user(bob)
    base = f"/p/cat-app/datasets/{dataset.pk}/mismatch/"
    assert client.get(f"{base}reviews/{review.pk}/").status_code == 200
    assert client.get(f"{base}reviews/{review.pk}/figures/").status_code == 200
    assert client.get(f"{base}recipes/{recipe.pk}/").status_code == 200
    job = services.synthesis_job_create(recipe=recipe, created_by=bob, enqueue=False)
    services.synthesis_job_enqueue(job=job, inline=True)
    page = client.get(f"/p/cat-app/mismatch/jobs/{job.pk}/")
    assert page.status_code == 200
    assert "Download the dump" in page.content.decode()


def test_outsiders_get_404_everywhere(as_user, mallory, world):
    dataset, _, review, recipe = world
    client = as_user(mallory)
    base = f"/p/cat-app/datasets/{dataset.pk}/mismatch/"
    for url in (base, f"{base}reviews/{review.pk}/", f"{base}recipes/{recipe.pk}/"):
        assert client.get(url).status_code == 404


@pytest.mark.parametrize("seed", [str(2**63), "-1"])
def test_a_review_seed_out_of_range_is_explained(as_user, bob, world, seed):
    dataset = world[0]
    response = as_user(bob).post(
        f"/p/cat-app/datasets/{dataset.pk}/mismatch/reviews/",
        {"name": "Again", "size": "5", "seed": seed},
        follow=True,
    )
    assert response.status_code == 200
    assert "A whole number from 0 to 9223372036854775807." in response.content.decode()
    assert not dataset.characteristic_reviews.filter(name="Again").exists()


@pytest.mark.parametrize(
    "fields",
    [
        {"t_GaussianBlur": "on", "GaussianBlur__sigma__low": "nan"},
        {"transforms_json": '[{"name": "GaussianBlur", "params": {"sigma": [NaN, 1]}}]'},
        {"transforms_json": '[{"name": "GaussianBlur", "params": {"sigma": [0, 1e999]}}]'},
        {"transforms_json": '[{"name": "GaussianBlur", "params": {"sigma": 1' + "0" * 400 + "}}]"},
    ],
    ids=["nan-in-the-form", "nan-in-json", "infinity-in-json", "huge-integer-in-json"],
)
def test_a_recipe_parameter_that_is_not_a_finite_number_is_explained(as_user, bob, world, fields):
    dataset = world[0]
    response = as_user(bob).post(
        f"/p/cat-app/datasets/{dataset.pk}/mismatch/recipes/",
        {"name": "odd", "count": "10", **fields},
        follow=True,
    )
    assert response.status_code == 200
    assert "GaussianBlur: sigma must stay within 0..10." in response.content.decode()
    assert not dataset.recipes.filter(name="odd").exists()
