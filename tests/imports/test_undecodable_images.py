"""An image is accepted only once it decodes (#13.7): a valid header over missing or cut
pixel data is a row error; and a thumbnail that cannot be made is counted as failed, never
as done."""

import io
import struct
import zlib

import pytest
from django.core.files.storage import default_storage
from PIL import Image

from mlstrat.datasets.models import Example
from mlstrat.imports import services, tasks
from mlstrat.imports.models import JobStatus

from .builders import png_bytes, rows, zip_dump
from .test_bad_dumps import assert_nothing_written, messages

UNREADABLE = "not a readable image (PNG, JPEG, GIF, WEBP, BMP only)"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_with_pixel_stream(stream: bytes, width=64, height=64) -> bytes:
    """A PNG whose chunks and CRCs are all valid, holding `stream` as its pixel data."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(stream))
        + _chunk(b"IEND", b"")
    )


def jpeg_cut() -> bytes:
    """A JPEG whose header is whole and whose scan stops halfway (a cut download)."""
    buffer = io.BytesIO()
    Image.effect_noise((128, 128), 60).convert("RGB").save(buffer, "JPEG")
    data = buffer.getvalue()
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "content",
    [
        png_with_pixel_stream(b""),
        png_with_pixel_stream(b"\0" * (1 + 64 * 3) * 10),
        png_with_pixel_stream(b"\x07" * (1 + 64 * 3) * 64),
        jpeg_cut(),
    ],
    ids=["png-no-pixels", "png-10-of-64-rows", "png-bad-row-filters", "jpeg-cut"],
)
def test_a_valid_header_over_undecodable_pixels_is_a_row_error(run_import, content):
    table = rows(2)
    images = {table[0]["image"]: png_bytes(), table[1]["image"]: content}
    job = run_import(zip_dump(table, images=images))
    assert job.status == JobStatus.FAILED
    assert messages(job) == [(3, "image", f"images/ex0001.png: {UNREADABLE}")]
    assert_nothing_written()


def test_a_whole_pixel_stream_is_accepted(run_import):
    table = rows(1)
    image = png_with_pixel_stream(b"\0" * (1 + 64 * 3) * 64)
    job = run_import(zip_dump(table, images={table[0]["image"]: image}))
    assert job.status == JobStatus.SUCCEEDED, job.errors


def test_a_thumbnail_that_cannot_be_made_is_counted_failed_not_done(
    run_import, monkeypatch, as_user, alice, api
):
    monkeypatch.setattr(tasks.thumbnails_make_task, "delay", lambda *args: None)
    table = rows(3)
    images = {row["image"]: png_bytes(size=(400, 300)) for row in table}
    job = run_import(zip_dump(table, images=images))
    assert job.status == JobStatus.THUMBNAILS
    # The stored bytes of one image are damaged after the import.
    broken = Example.objects.get(example_id="ex0001")
    with open(default_storage.path(broken.image.name), "r+b") as pack:
        pack.seek(broken.image_offset + 40)
        pack.write(b"\xff" * 60)
    services.thumbnails_make(job_id=job.pk, example_ids=sorted(e.pk for e in Example.objects.all()))
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert (job.thumbnails_done, job.thumbnails_failed, job.thumbnails_total) == (2, 1, 3)
    assert "1 thumbnail(s) could not be made" in job.message
    broken.refresh_from_db()
    assert broken.thumbnail == ""
    api.force_authenticate(alice)
    state = api.get(f"/api/v1/imports/{job.pk}/").json()
    assert (state["thumbnails_done"], state["thumbnails_failed"]) == (2, 1)
    page = as_user(alice).get(f"/p/cat-app/imports/{job.pk}/")
    assert "1 failed" in page.content.decode()
