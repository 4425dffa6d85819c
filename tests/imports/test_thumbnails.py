"""Thumbnails: at most 256 px on the longer side, stored once per example, a chunk's
thumbnails packed one after the other in one stored object (each example records its
byte range); an image that small already (in a format browsers show) is its own
thumbnail, with no second copy."""

import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from mlstrat.datasets.images import read_stored
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


def thumbnail_of(example) -> Image.Image:
    data = read_stored(example.thumbnail.name, example.thumbnail_offset, example.thumbnail_size)
    return Image.open(io.BytesIO(data))


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
    assert example.thumbnail.name.startswith(f"packs/job{job.pk}/thumbnails/{example.pk}-")
    assert example.thumbnail_offset == 0
    assert example.thumbnail_size == default_storage.size(example.thumbnail.name)
    with thumbnail_of(example) as thumb:
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
    assert example.thumbnail.name.endswith(".pack")
    with thumbnail_of(example) as thumb:
        assert thumb.format == "PNG" and thumb.size == (40, 30)


def test_a_chunk_run_again_never_writes_over_the_pack_an_earlier_run_recorded(project, alice):
    dataset = DatasetFactory(project=project)
    first = stored_image(dataset, "first", size=(600, 400))
    second = stored_image(dataset, "second", size=(400, 600))
    image = second.image.name
    second.image = "gone.png"  # its file lost: the first run makes only the first's
    second.save()
    make(project, alice, [first, second])
    first.refresh_from_db()
    recorded = (first.thumbnail.name, first.thumbnail_offset, first.thumbnail_size)
    second.image = image
    second.save()
    # The chunk again (the file restored): a pack of its own for what it makes.
    made, job = make(project, alice, [first, second])
    first.refresh_from_db()
    second.refresh_from_db()
    assert made == 1 and job.thumbnails_failed == 0
    assert (first.thumbnail.name, first.thumbnail_offset, first.thumbnail_size) == recorded
    assert second.thumbnail.name != first.thumbnail.name
    with thumbnail_of(first) as thumb:
        assert thumb.size == (256, 171)
    with thumbnail_of(second) as thumb:
        assert thumb.size == (171, 256)


def test_a_pack_another_run_of_the_chunk_recorded_first_is_removed(
    project, alice, django_capture_on_commit_callbacks
):
    dataset = DatasetFactory(project=project)
    example = stored_image(dataset, "big", size=(600, 400))
    job = ImportJob.objects.create(
        project=project, dataset_name="photos", run_name="v1", created_by=alice
    )
    real_record = services._thumbnails_record

    def raced(pack, made):
        # The other run commits between this run's reads and its writes.
        Example.objects.filter(pk=example.pk).update(
            thumbnail=example.image.name, thumbnail_offset=None, thumbnail_size=None
        )
        return real_record(pack, made)

    written = []
    real_writer = services.packs.PackWriter

    class Recording(real_writer):
        def close(self):
            written.append(super().close())
            return written[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(services, "_thumbnails_record", raced)
        patch.setattr(services.packs, "PackWriter", Recording)
        with django_capture_on_commit_callbacks(execute=True):
            services.thumbnails_make(job_id=job.pk, example_ids=[example.pk])
    assert written and written[0].endswith(".pack")
    assert not default_storage.exists(written[0])
    example.refresh_from_db()
    assert example.thumbnail.name == example.image.name


def test_a_failure_while_packing_leaves_no_pack(project, alice, settings):
    dataset = DatasetFactory(project=project)
    example = stored_image(dataset, "big", size=(600, 400))
    job = ImportJob.objects.create(
        project=project, dataset_name="photos", run_name="v1", created_by=alice
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(services.StoredReader, "__exit__", lambda *args: _raise(OSError("disk")))
        with pytest.raises(OSError):
            services.thumbnails_make(job_id=job.pk, example_ids=[example.pk])
    folder = settings.MEDIA_ROOT / f"packs/job{job.pk}/thumbnails"
    assert not folder.exists() or list(folder.iterdir()) == []


def _raise(exc):
    raise exc


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


def test_the_import_records_a_small_image_as_its_own_thumbnail_as_it_writes_it(
    run_import, monkeypatch
):
    """Written with its row (no second write of the row by the pass); the pass still
    measures it, and makes the others' thumbnails."""
    from mlstrat.mismatch.models import ExampleCharacteristics
    from tests.imports.builders import png_bytes, rows, zip_dump

    table = rows(4)
    bmp = io.BytesIO()
    Image.new("RGB", (40, 30), "teal").save(bmp, "BMP")
    jpeg = io.BytesIO()
    Image.new("RGB", (256, 100), "teal").save(jpeg, "JPEG")
    images = {
        table[0]["image"]: png_bytes(size=(32, 24)),
        table[1]["image"]: png_bytes(size=(300, 200)),
        table[2]["image"]: bmp.getvalue(),  # small, but not shown by every browser
        table[3]["image"]: jpeg.getvalue(),  # 256 px: still its own
    }
    before_the_pass = {}
    real = services.thumbnails_make

    def spy(*, job_id, example_ids):
        for example in Example.objects.filter(pk__in=example_ids):
            before_the_pass[example.example_id] = example
        return real(job_id=job_id, example_ids=example_ids)

    monkeypatch.setattr(services, "thumbnails_make", spy)
    job = run_import(zip_dump(table, images=images))
    assert job.status == JobStatus.SUCCEEDED, (job.message, job.errors)
    assert (job.thumbnails_done, job.thumbnails_failed) == (4, 0)

    def stored(example, kind):
        field = getattr(example, kind)
        offset, size = (getattr(example, f"{kind}_{part}") for part in ("offset", "size"))
        return field.name, offset, size

    for example_id in ("ex0000", "ex0003"):
        own = before_the_pass[example_id]
        assert stored(own, "thumbnail") == stored(own, "image") != ("", None, None)
    for example_id in ("ex0001", "ex0002"):
        assert stored(before_the_pass[example_id], "thumbnail") == ("", None, None)
    after = {e.example_id: e for e in Example.objects.all()}
    assert stored(after["ex0000"], "thumbnail") == stored(before_the_pass["ex0000"], "image")
    with thumbnail_of(after["ex0001"]) as thumb:
        assert thumb.size == (256, 171)
    with thumbnail_of(after["ex0002"]) as thumb:
        assert thumb.format == "PNG" and thumb.size == (40, 30)
    measured = dict(ExampleCharacteristics.objects.values_list("example__example_id", "width"))
    assert measured == {"ex0000": 32, "ex0001": 300, "ex0002": 40, "ex0003": 256}
