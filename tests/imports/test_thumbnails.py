"""Thumbnails: at most 256 px on the longer side, stored once per example; an image that
small already (in a format browsers show) is its own thumbnail, with no second copy."""

import io

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from mlstrat.datasets.models import Example
from mlstrat.imports import services
from mlstrat.imports.models import ImportJob, JobStatus
from tests.factories import DatasetFactory, ExampleFactory


def stored_image(dataset, example_id, *, size, fmt="PNG"):
    buffer = io.BytesIO()
    Image.new("RGB", size, "teal").save(buffer, fmt)
    name = default_storage.save(
        f"datasets/{dataset.pk}/images/{example_id}.{fmt.lower()}", ContentFile(buffer.getvalue())
    )
    return ExampleFactory(dataset=dataset, example_id=example_id, image=name)


def make(project, alice, examples):
    job = ImportJob.objects.create(
        project=project,
        dataset_name="photos",
        run_name="v1",
        created_by=alice,
        status=JobStatus.THUMBNAILS,
        thumbnails_total=len(examples),
    )
    made = services.thumbnails_make(job_id=job.pk, example_ids=[e.pk for e in examples])
    job.refresh_from_db()
    return made, job


def test_a_large_image_gets_a_png_thumbnail_of_256_px(project, alice):
    dataset = DatasetFactory(project=project)
    example = stored_image(dataset, "big", size=(1024, 683), fmt="JPEG")
    made, job = make(project, alice, [example])
    example.refresh_from_db()
    assert made == 1 and job.status == JobStatus.SUCCEEDED
    assert example.thumbnail.name == f"datasets/{dataset.pk}/thumbnails/{example.pk}.png"
    with default_storage.open(example.thumbnail.name) as handle, Image.open(handle) as thumb:
        assert thumb.format == "PNG" and thumb.size == (256, 171)


def test_a_small_image_is_its_own_thumbnail(project, alice):
    dataset = DatasetFactory(project=project)
    example = stored_image(dataset, "digit", size=(32, 24))
    made, _ = make(project, alice, [example])
    example.refresh_from_db()
    assert made == 1
    assert example.thumbnail.name == example.image.name
    _, files = default_storage.listdir(f"datasets/{dataset.pk}/images")
    assert files == ["digit.png"]
    assert not default_storage.exists(f"datasets/{dataset.pk}/thumbnails")


def test_a_small_image_browsers_may_not_show_still_gets_a_png(project, alice):
    dataset = DatasetFactory(project=project)
    example = stored_image(dataset, "scan", size=(40, 30), fmt="BMP")
    make(project, alice, [example])
    example.refresh_from_db()
    assert example.thumbnail.name.endswith(f"/thumbnails/{example.pk}.png")
    with default_storage.open(example.thumbnail.name) as handle, Image.open(handle) as thumb:
        assert thumb.format == "PNG" and thumb.size == (40, 30)


def test_a_file_left_by_a_killed_attempt_is_replaced_not_duplicated(project, alice):
    dataset = DatasetFactory(project=project)
    example = stored_image(dataset, "big", size=(600, 400))
    leftover = f"datasets/{dataset.pk}/thumbnails/{example.pk}.png"
    default_storage.save(leftover, ContentFile(b"half a file"))
    make(project, alice, [example])
    example.refresh_from_db()
    assert example.thumbnail.name == leftover
    _, files = default_storage.listdir(f"datasets/{dataset.pk}/thumbnails")
    assert files == [f"{example.pk}.png"]
    with default_storage.open(leftover) as handle, Image.open(handle) as thumb:
        assert thumb.size == (256, 171)


def test_a_chunk_records_every_kind_in_one_go(project, alice):
    dataset = DatasetFactory(project=project)
    examples = [
        stored_image(dataset, "a", size=(16, 16)),
        stored_image(dataset, "b", size=(512, 512)),
        stored_image(dataset, "c", size=(300, 20), fmt="GIF"),
    ]
    made, job = make(project, alice, examples)
    assert made == 3 and job.thumbnails_done == 3
    assert not Example.objects.filter(thumbnail="").exists()
