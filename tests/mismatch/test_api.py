"""Every data-mismatch endpoint, for each role (annotator, lead, admin) and an outsider."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from mlstrat.mismatch import services
from mlstrat.mismatch.models import CharacteristicReview, JobStatus, SynthesisRecipe

from .builders import categories, glyph, make_dataset, png

BLUR = [{"name": "GaussianBlur", "params": {"sigma": "match"}}]


@pytest.fixture
def world(project, alice, bob, carol, mallory):
    dataset, run = make_dataset(project)
    cats = categories(dataset, bob)
    review = services.characteristic_review_create(
        dataset=dataset, created_by=bob, name="Blind", size=5, seed=1, blind=True
    )
    recipe = services.recipe_create(
        dataset=dataset, created_by=bob, name="blurry", transforms=BLUR, count=8, seed=2
    )
    return {"dataset": dataset, "run": run, "cats": cats, "review": review, "recipe": recipe}


def as_(api, user):
    api.force_authenticate(user)
    return api


# ---------------------------------------------------------------- comparison


def test_members_read_the_comparison_with_a_runs_errors(api, carol, world):
    url = f"/api/v1/datasets/{world['dataset'].pk}/mismatch/?run={world['run'].pk}"
    body = as_(api, carol).get(url).json()
    headline = body["characteristics"]["headline"]
    assert headline["characteristic"] == "sharpness" and headline["direction"] == "lower"
    assert headline["sentence"].startswith("dev is much blurrier than train")
    assert body["metadata"][0]["column"] in ("source", "camera")
    assert body["errors"]["errors"] == 8 and body["errors"]["findings"]


def test_the_comparison_refuses_unknown_keys_and_foreign_runs(api, carol, world, other_project):
    base = f"/api/v1/datasets/{world['dataset'].pk}/mismatch/"
    assert as_(api, carol).get(base + "?split=dev").status_code == 400
    assert api.get(base + "?run=abc").status_code == 400
    assert api.get(base + "?run=999999").status_code == 404


def test_outsiders_do_not_see_a_dataset(api, mallory, world):
    base = f"/api/v1/datasets/{world['dataset'].pk}/mismatch/"
    assert as_(api, mallory).get(base).status_code == 404
    assert api.post(base + "measure/").status_code == 404


@pytest.mark.parametrize("who,code", [("carol", 403), ("bob", 403), ("alice", 202)])
def test_only_admins_measure(api, world, who, code, request):
    response = as_(api, request.getfixturevalue(who)).post(
        f"/api/v1/datasets/{world['dataset'].pk}/mismatch/measure/"
    )
    assert response.status_code == code
    if code == 202:
        assert response.json() == {"missing": 0}


# ---------------------------------------------------------------- train-vs-dev reviews


@pytest.mark.parametrize("who,code", [("carol", 403), ("bob", 201), ("alice", 201)])
def test_leads_and_admins_start_reviews(api, world, who, code, request):
    response = as_(api, request.getfixturevalue(who)).post(
        "/api/v1/characteristic-reviews/",
        {"dataset": world["dataset"].pk, "name": "Side by side", "size": 4, "blind": False},
        format="json",
    )
    assert response.status_code == code
    if code == 201:
        assert response.json()["item_count"] == 8


def test_an_outsider_cannot_start_one_nor_tell_which_datasets_exist(api, mallory, world):
    as_(api, mallory)
    for dataset in (world["dataset"].pk, 999999):
        response = api.post(
            "/api/v1/characteristic-reviews/", {"dataset": dataset, "name": "x"}, format="json"
        )
        assert response.status_code == 404


def test_a_review_with_no_name_is_refused_with_a_reason(api, bob, world):
    response = as_(api, bob).post(
        "/api/v1/characteristic-reviews/", {"dataset": world["dataset"].pk, "name": " "}
    )
    assert response.status_code == 400


def test_blind_items_hide_the_split_unless_a_lead_reveals_it(api, carol, bob, world):
    url = f"/api/v1/characteristic-reviews/{world['review'].pk}/items/"
    rows = as_(api, carol).get(url).json()["rows"]
    assert len(rows) == 10 and all("split" not in row for row in rows)
    assert api.get(url + "?reveal=1").status_code == 400
    revealed = as_(api, bob).get(url + "?reveal=1").json()["rows"]
    assert sorted(r["split"] for r in revealed) == ["dev"] * 5 + ["train"] * 5


def test_annotators_tick_and_the_figures_follow(api, carol, world):
    review, blurry = world["review"], world["cats"]["Blurry"]
    as_(api, carol)
    items = {i.pk: i.split for i in review.items.all()}
    for item, split in items.items():
        if split == "dev":
            body = {"item": item, "category": blurry.pk, "on": True}
            assert api.post(f"/api/v1/characteristic-reviews/{review.pk}/ticks/", body).json() == {
                "changed": True
            }
        else:
            body = {"item": item, "on": True}
            api.post(f"/api/v1/characteristic-reviews/{review.pk}/nothing/", body)
    figures = api.get(f"/api/v1/characteristic-reviews/{review.pk}/figures/").json()
    top = figures["categories"][0]
    assert top["name"] == "Blurry"
    assert (top["dev"]["k"], top["dev"]["n"], top["train"]["k"], top["train"]["n"]) == (5, 5, 0, 5)
    assert top["difference"]["difference"] == 1.0
    assert figures["z"] == pytest.approx(1.959963984540054)


def test_ticks_are_refused_for_builtins_and_other_datasets(api, carol, world, project):
    review = world["review"]
    item = review.items.first()
    incorrect = world["dataset"].categories.get(builtin="incorrect_label")
    as_(api, carol)
    url = f"/api/v1/characteristic-reviews/{review.pk}/ticks/"
    assert api.post(url, {"item": item.pk, "category": incorrect.pk}).status_code == 400
    other, _ = make_dataset(project, name="other", train=3, train_dev=0, dev=3)
    stranger = categories(other, carol)["Blurry"]
    assert api.post(url, {"item": item.pk, "category": stranger.pk}).status_code == 404
    assert api.post(url, {"item": "x", "category": stranger.pk}).status_code == 400


def test_outsiders_cannot_read_or_tick_a_review(api, mallory, world):
    review = world["review"]
    as_(api, mallory)
    assert api.get(f"/api/v1/characteristic-reviews/{review.pk}/").status_code == 404
    assert api.get("/api/v1/characteristic-reviews/").json()["results"] == []
    body = {"item": review.items.first().pk, "category": world["cats"]["Blurry"].pk}
    assert api.post(f"/api/v1/characteristic-reviews/{review.pk}/ticks/", body).status_code == 404


@pytest.mark.parametrize("who,code", [("carol", 403), ("bob", 204)])
def test_leads_delete_reviews(api, world, who, code, request):
    response = as_(api, request.getfixturevalue(who)).delete(
        f"/api/v1/characteristic-reviews/{world['review'].pk}/"
    )
    assert response.status_code == code
    assert CharacteristicReview.objects.exists() == (code != 204)


# ---------------------------------------------------------------- overlays


def test_leads_upload_overlay_sets_as_images_or_a_zip(api, bob, carol, world):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        for i in range(3):
            z.writestr(f"bg/{i}.png", png(glyph(__import__("numpy").random.default_rng(i))))
    data = {
        "dataset": world["dataset"].pk,
        "name": "backgrounds",
        "files": [SimpleUploadedFile("bg.zip", archive.getvalue())],
    }
    assert (
        as_(api, carol).post("/api/v1/overlay-sets/", data, format="multipart").status_code == 403
    )
    data["files"] = [SimpleUploadedFile("bg.zip", archive.getvalue())]
    response = as_(api, bob).post("/api/v1/overlay-sets/", data, format="multipart")
    assert response.status_code == 201 and response.json()["image_count"] == 3


def test_an_overlay_that_is_not_an_image_is_refused(api, bob, world):
    data = {
        "dataset": world["dataset"].pk,
        "name": "bad",
        "files": [SimpleUploadedFile("x.png", b"<svg></svg>")],
    }
    response = as_(api, bob).post("/api/v1/overlay-sets/", data, format="multipart")
    assert response.status_code == 400 and "x.png" in str(response.json())


# ---------------------------------------------------------------- recipes and jobs


@pytest.mark.parametrize("who,code", [("carol", 403), ("bob", 201), ("alice", 201)])
def test_leads_write_recipes(api, world, who, code, request):
    body = {
        "dataset": world["dataset"].pk,
        "name": f"noisy-{who}",
        "transforms": [{"name": "GaussNoise", "params": {"std_range": [0.01, 0.05]}}],
        "count": 5,
    }
    assert (
        as_(api, request.getfixturevalue(who))
        .post("/api/v1/synthesis-recipes/", body, format="json")
        .status_code
        == code
    )


def test_a_bad_recipe_is_refused_with_reasons(api, bob, world):
    body = {
        "dataset": world["dataset"].pk,
        "name": "bad name!",
        "transforms": [{"name": "Rotate", "params": {"limit": "match"}}],
        "count": 0,
    }
    response = as_(api, bob).post("/api/v1/synthesis-recipes/", body, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert {"name", "transforms", "count"} <= set(errors)
    assert "cannot be matched" in str(errors["transforms"])


def test_a_lead_edits_and_deletes_a_recipe(api, bob, carol, world):
    url = f"/api/v1/synthesis-recipes/{world['recipe'].pk}/"
    assert as_(api, carol).patch(url, {"count": 3}, format="json").status_code == 403
    assert as_(api, bob).patch(url, {"count": 3}, format="json").json()["count"] == 3
    assert api.delete(url).status_code == 204
    assert not SynthesisRecipe.objects.exists()


def test_a_lead_previews_exactly_what_the_job_will_write(api, bob, carol, world):
    url = f"/api/v1/synthesis-recipes/{world['recipe'].pk}/preview/"
    assert as_(api, carol).post(url, {"count": 4}, format="json").status_code == 403
    body = as_(api, bob).post(url, {"count": 4, "check": 40}, format="json").json()
    assert [e["index"] for e in body["entries"]] == [0, 1, 2, 3]
    assert body["entries"][0]["image"].startswith("data:image/png;base64,")
    check = body["checks"][0]
    assert check["characteristic"] == "sharpness"
    assert check["ks_after"] < check["ks_before"]


def test_jobs_run_and_their_dump_downloads(
    api, bob, carol, world, django_capture_on_commit_callbacks
):
    url = f"/api/v1/synthesis-recipes/{world['recipe'].pk}/jobs/"
    assert as_(api, carol).post(url).status_code == 403
    with django_capture_on_commit_callbacks(execute=True):
        response = as_(api, bob).post(url)
    assert response.status_code == 202
    job_url = f"/api/v1/synthesis-jobs/{response.json()['id']}/"
    job = as_(api, carol).get(job_url).json()
    assert job["status"] == JobStatus.SUCCEEDED and job["done"] == 8
    assert job["variety"]["outputs"] == 8 and job["outcome"] == []
    download = api.get(job_url + "download/")
    assert download.status_code == 200
    assert download["Content-Disposition"].endswith('.zip"')
    data = b"".join(download.streaming_content)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert len(z.namelist()) == 9
    assert api.post(job_url + "cancel/").status_code == 403
    assert as_(api, bob).post(job_url + "cancel/").status_code == 400  # finished already


def test_leads_cancel_and_resume_jobs(api, bob, carol, world):
    job = services.synthesis_job_create(recipe=world["recipe"], created_by=bob, enqueue=False)
    url = f"/api/v1/synthesis-jobs/{job.pk}/"
    assert as_(api, carol).post(url + "resume/").status_code == 403
    assert as_(api, bob).get(url + "download/").status_code == 400
    assert api.post(url + "cancel/").json()["status"] == JobStatus.CANCELLED
    assert api.post(url + "resume/").status_code == 400


def test_outsiders_see_no_recipe_or_job(api, bob, mallory, world):
    job = services.synthesis_job_create(recipe=world["recipe"], created_by=bob, enqueue=False)
    as_(api, mallory)
    assert api.get(f"/api/v1/synthesis-recipes/{world['recipe'].pk}/").status_code == 404
    assert api.post(f"/api/v1/synthesis-recipes/{world['recipe'].pk}/jobs/").status_code == 404
    assert api.get(f"/api/v1/synthesis-jobs/{job.pk}/").status_code == 404
    assert api.get(f"/api/v1/synthesis-jobs/{job.pk}/download/").status_code == 404
    assert api.get("/api/v1/synthesis-recipes/").json()["results"] == []
