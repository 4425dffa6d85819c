"""Packs on S3-compatible storage (django-storages' S3Storage, against moto's S3 in
memory): an import stores its packs as objects, each image is read back with one ranged GET
(never the whole pack), served to members, and the thumbnail pass reads it the same way."""

import io

import pytest
from django.core.files.storage import storages
from PIL import Image

moto = pytest.importorskip("moto")

from mlstrat.datasets.models import Example  # noqa: E402
from mlstrat.imports.models import JobStatus  # noqa: E402

from .builders import png_bytes, rows, zip_dump  # noqa: E402

BUCKET = "mlstrat-test"


@pytest.fixture
def s3_storage(settings, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with moto.mock_aws():
        import boto3

        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket=BUCKET)
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {"bucket_name": BUCKET, "file_overwrite": False},
            },
        }
        # Django's setting_changed handler drops the storages built from the old setting.
        yield storages["default"]


def test_an_import_to_s3_stores_packs_and_serves_each_image_by_its_range(
    s3_storage, run_import, as_user, carol, monkeypatch
):
    table = rows(4)
    images = {
        row["image"]: png_bytes((i * 50, 0, 0), size=(300, 200)) for i, row in enumerate(table)
    }
    ranges = []  # (key, Range) of every GET of a pack

    def record(params, **kwargs):
        if params["Key"].startswith("packs/"):
            ranges.append((params["Key"], params.get("Range")))

    s3_storage.connection.meta.client.meta.events.register(
        "provide-client-params.s3.GetObject", record
    )
    job = run_import(zip_dump(table, images=images))
    assert job.status == JobStatus.SUCCEEDED, (job.message, job.errors)
    keys = [obj.key for obj in s3_storage.bucket.objects.filter(Prefix="packs/")]
    # The images' pack, and the thumbnails' pack of the one chunk of thumbnails.
    assert keys[0] == f"packs/job{job.pk}/a1/000001.pack"
    assert len(keys) == 2 and keys[1].startswith(f"packs/job{job.pk}/thumbnails/")
    example = Example.objects.get(example_id="ex0002")
    response = as_user(carol).get(f"/examples/{example.pk}/image/")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(response.content)) as image:
        assert image.getpixel((0, 0)) == (100, 0, 0)
    # The thumbnail pass read the image by its range too; the thumbnail is served by its
    # range of the thumbnails' pack.
    example.refresh_from_db()
    thumbnail = as_user(carol).get(f"/examples/{example.pk}/thumbnail/")
    assert thumbnail.status_code == 200 and thumbnail["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(thumbnail.content)) as image:
        assert image.size == (256, 171) and image.getpixel((0, 0)) == (100, 0, 0)
    # Every read of a packed image or thumbnail (the views, the thumbnail pass) was one
    # ranged GET.
    assert (keys[1], f"bytes={example.thumbnail_offset}-") in {
        (key, r.split("-")[0] + "-") for key, r in ranges
    }
    assert len(ranges) >= 6
    assert all(r and r.startswith("bytes=") for _, r in ranges), ranges
