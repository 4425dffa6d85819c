"""A synthesis job writes an importable dump, chunk by chunk, resumably and reproducibly."""

import csv
import io
import json
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from mlstrat.datasets.models import Example, Prediction
from mlstrat.imports import services as import_services
from mlstrat.imports.models import JobStatus as ImportStatus
from mlstrat.mismatch import exports, selectors, services
from mlstrat.mismatch.models import ExampleCharacteristics, JobStatus

from .builders import make_dataset


@pytest.fixture
def dataset(project, bob):
    return make_dataset(project)[0]


def recipe_for(dataset, bob, *, count=25, transforms=None, **kwargs):
    return services.recipe_create(
        dataset=dataset,
        created_by=bob,
        name=kwargs.pop("name", "blurry"),
        transforms=transforms or [{"name": "GaussianBlur", "params": {"sigma": "match"}}],
        count=count,
        seed=kwargs.pop("seed", 9),
        **kwargs,
    )


def run_job(recipe, user):
    job = services.synthesis_job_create(recipe=recipe, created_by=user, enqueue=False)
    services.synthesis_job_enqueue(job=job, inline=True)
    job.refresh_from_db()
    return job


def dump_bytes(job):
    return b"".join(exports.stream_dump(job))


def table_of(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        rows = list(csv.DictReader(io.StringIO(archive.read("predictions.csv").decode())))
    return names, rows


def test_a_job_writes_a_dump_in_the_import_format(dataset, bob):
    recipe = recipe_for(dataset, bob)
    job = run_job(recipe, bob)
    assert job.status == JobStatus.SUCCEEDED and job.done == 25
    names, rows = table_of(dump_bytes(job))
    assert len(rows) == 25 and len(names) == 26
    first = rows[0]
    assert first["split"] == "train" and first["source"] == "synthetic:blurry"
    assert first["label"] == first["prediction"]
    source = Example.objects.get(dataset=dataset, example_id=first["synth_source_example"])
    assert source.split == "train" and source.label == first["label"]
    steps = json.loads(first["synth_transforms"])
    assert steps[0]["name"] == "GaussianBlur" and steps[0]["applied"]
    assert steps[0]["params"]["sigma"] > 0 and "sharpness" in steps[0]["target"]
    assert f"images/{first['example_id']}.png" in names


def _without_ids(data):
    return [{k: v for k, v in r.items() if k != "example_id"} for r in json.loads(data)]


def test_outputs_are_reproducible_and_a_chunk_run_twice_changes_nothing(dataset, bob):
    recipe = recipe_for(dataset, bob, count=10)
    first = run_job(recipe, bob)
    second = run_job(recipe, bob)
    one = default_storage.open(f"{first.folder}/rows/00000.json").read()
    two = default_storage.open(f"{second.folder}/rows/00000.json").read()
    assert _without_ids(one) == _without_ids(two)
    assert services.synthesis_chunk_run(job_id=first.pk, chunk=0) == 0
    first.refresh_from_db()
    assert first.done == 10


def test_a_job_resumes_after_a_worker_died_mid_job(dataset, bob, monkeypatch):
    recipe = recipe_for(dataset, bob, count=30)
    job = services.synthesis_job_create(recipe=recipe, created_by=bob, enqueue=False)
    monkeypatch.setattr(services, "CHUNK_SIZE", 10)
    job.chunk_size = 10
    job.save()
    services.synthesis_chunk_run(job_id=job.pk, chunk=1)  # one chunk done, then the worker died
    job.refresh_from_db()
    assert (job.status, job.done, job.chunks_done) == (JobStatus.RUNNING, 10, [1])
    services.synthesis_job_resume(job=job, inline=True)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.done == 30
    reference = run_job(recipe_for(dataset, bob, count=30, name="again"), bob)
    _, resumed = table_of(dump_bytes(job))
    _, straight = table_of(dump_bytes(reference))
    assert [r["synth_transforms"] for r in resumed] == [r["synth_transforms"] for r in straight]


def test_a_cancelled_job_stops(dataset, bob):
    recipe = recipe_for(dataset, bob, count=10)
    job = services.synthesis_job_create(recipe=recipe, created_by=bob, enqueue=False)
    services.synthesis_job_cancel(job=job)
    services.synthesis_job_enqueue(job=job, inline=True)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.done == 0
    with pytest.raises(Exception, match="nothing to cancel"):
        services.synthesis_job_cancel(job=job)


def test_the_variety_report_warns_when_few_sources_are_reused(dataset, bob):
    recipe = recipe_for(
        dataset,
        bob,
        count=100,
        filters={"label": "0", "source": "scanner"},
        transforms=[{"name": "GaussianBlur", "params": {"sigma": [0.5, 1.5]}}],
    )
    job = run_job(recipe, bob)
    variety = job.variety
    pool = services.recipe_pool(dataset=dataset, filters=recipe.filters).count()
    assert variety["distinct_sources"] == pool == len(job.plan["pool"])
    assert variety["source_reuse_max"] == -(-100 // pool)
    assert any("only" in w and "source images" in w for w in variety["warnings"])
    assert variety["distinct_values"]["GaussianBlur.sigma"] > 30


def test_the_dump_imports_as_training_examples_of_a_new_run(
    project, alice, dataset, bob, django_capture_on_commit_callbacks
):
    job = run_job(recipe_for(dataset, bob, count=12), bob)
    upload = SimpleUploadedFile("synthetic.zip", dump_bytes(job))
    with django_capture_on_commit_callbacks(execute=True):
        imported = import_services.import_job_create(
            project=project,
            user=alice,
            dataset_name=dataset.name,
            run_name="with-synthetic",
            upload=upload,
        )
    imported.refresh_from_db()
    assert imported.status == ImportStatus.SUCCEEDED, (imported.message, imported.errors)
    synthetic = Example.objects.filter(dataset=dataset, source="synthetic:blurry")
    assert synthetic.count() == 12 and set(synthetic.values_list("split", flat=True)) == {"train"}
    assert synthetic.first().metadata["synth_recipe"] == "blurry"
    assert ExampleCharacteristics.objects.filter(example__in=synthetic).count() == 12
    # The synthesized examples look like dev now: their sharpness is dev's, not train's.
    outcome = selectors.synthetic_outcome(job=job)
    assert outcome[0]["run"]["name"] == "with-synthetic"
    assert outcome[0]["synthetic"]["n"] == 12
    assert Prediction.objects.filter(run__name="with-synthetic").count() == 12


def test_a_recipe_with_overlays_blends_them(dataset, bob):
    import numpy as np

    from .builders import glyph, png

    rng = np.random.default_rng(0)
    files = [SimpleUploadedFile(f"o{i}.png", png(glyph(rng))) for i in range(3)]
    overlays = services.overlay_set_create(
        dataset=dataset, name="street", files=files, created_by=bob
    )
    recipe = recipe_for(
        dataset,
        bob,
        count=20,
        overlay_set=overlays,
        transforms=[{"name": "TemplateTransform", "params": {"template_weight": [0.2, 0.4]}}],
    )
    job = run_job(recipe, bob)
    assert job.variety["distinct_overlays"] == 3
    assert job.variety["overlay_pool"] == 3
    assert any("overlay images" in w for w in job.variety["warnings"])
