"""Hostile dumps cannot take memory (#13.2): every decompression is counted as it streams
(gzip tables, zip members, images), whatever sizes the archive declares; lines and fields
are capped for CSV and JSON Lines alike. Each test measures the import's peak allocation
with tracemalloc, so a reader that held a whole table, line or image would fail it."""

import gzip
import io
import json
import os
import struct
import tracemalloc
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from mlstrat.imports import services
from mlstrat.imports.models import JobStatus

from .builders import png_bytes, zip_of
from .test_bad_dumps import assert_nothing_written, messages

HEADER = "example_id,image,label,prediction,split\n"
MB = 1024 * 1024


@pytest.fixture
def import_measured(project, alice):
    """Run an import of `dump` (bytes of a zip, or a server path) and return the job and
    the peak of memory allocated while it ran, in bytes."""

    def _create(dump, **options):
        upload = None if isinstance(dump, str) else SimpleUploadedFile("dump.zip", dump)
        return services.import_job_create(
            project=project,
            user=alice,
            dataset_name="photos",
            run_name="v1",
            upload=upload,
            server_path=dump if isinstance(dump, str) else "",
            allow_any_path=True,
            enqueue=False,
            **options,
        )

    def _run(dump, **options):
        # A first import that fails at once loads every module on the way, so that their
        # code is not counted as the measured import's memory.
        warm_up = _create(zip_of({"predictions.csv": HEADER}).getvalue())
        services.import_job_run(job_id=warm_up.pk)
        job = _create(dump, **options)
        tracemalloc.start()
        try:
            job = services.import_job_run(job_id=job.pk, inline_thumbnails=True)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return job, peak

    return _run


def incompressible_text(size: int) -> str:
    return os.urandom(size // 2).hex()


def test_a_gzip_table_that_expands_a_thousandfold_stops_as_it_streams(import_measured):
    # 13 MB of rows in 30 KB of gzip, stored (not deflated) in the zip: the archive's
    # own ratio check sees nothing to refuse; the gzip stream is counted as it expands.
    rows = (HEADER + "a,images/a.png,cat,dog,dev\n" * 500_000).encode()
    table = gzip.compress(rows, compresslevel=6)
    del rows
    dump = zip_of({"predictions.csv.gz": table}, zipfile.ZIP_STORED).getvalue()
    assert len(dump) < 100_000
    job, peak = import_measured(dump)
    assert job.status == JobStatus.FAILED
    assert job.message == (
        "The gzip table expands more than 200-fold: refused as a possible decompression bomb."
    )
    assert peak < 5 * MB, peak
    assert_nothing_written()


def test_a_gzip_table_in_a_server_folder_is_counted_too(import_measured, tmp_path, settings):
    settings.MLSTRAT_IMPORT_MAX_EXPANDED_BYTES = MB // 2
    # Incompressible rows: no ratio to trip, only the expanded total.
    lines = [HEADER] + [
        f"{os.urandom(20).hex()},images/a.png,cat,dog,holdout\n" for _ in range(20_000)
    ]
    (tmp_path / "predictions.csv.gz").write_bytes(gzip.compress("".join(lines).encode()))
    job, peak = import_measured(str(tmp_path / "predictions.csv.gz"))
    assert job.message == f"The gzip table expands to more than {MB // 2} bytes."
    assert peak < 5 * MB, peak
    assert_nothing_written()


def test_one_enormous_json_line_is_refused_without_being_held(import_measured):
    line = json.dumps(
        {"example_id": "a", "image": "images/a.png", "note": incompressible_text(20 * MB)}
    )
    dump = zip_of({"predictions.jsonl": line + "\n"}, zipfile.ZIP_STORED).getvalue()
    job, peak = import_measured(dump)
    assert job.status == JobStatus.FAILED
    assert job.message == (
        "Line 1 of the table is longer than 1048576 characters (MLSTRAT_IMPORT_MAX_LINE_BYTES)."
    )
    assert peak < 6 * MB, peak
    assert_nothing_written()


def test_one_enormous_csv_line_is_refused_the_same_way(import_measured):
    table = HEADER + "a,images/a.png,cat,dog,dev\n" + incompressible_text(20 * MB) + "\n"
    dump = zip_of({"predictions.csv": table}, zipfile.ZIP_STORED).getvalue()
    job, peak = import_measured(dump)
    assert job.message == (
        "Line 3 of the table is longer than 1048576 characters (MLSTRAT_IMPORT_MAX_LINE_BYTES)."
    )
    assert peak < 6 * MB, peak


def test_a_field_over_the_cap_is_refused_in_csv_and_json_lines(run_import, settings):
    settings.MLSTRAT_IMPORT_MAX_FIELD_BYTES = 1000
    long = "x" * 1001
    csv_dump = zip_of(
        {"predictions.csv": f'{HEADER}a,images/a.png,cat,dog,dev\nb,"{long}",cat,dog,dev\n'}
    )
    job = run_import(csv_dump)
    assert job.status == JobStatus.FAILED
    assert job.message == "The table is broken after line 2: field larger than field limit (1000)"
    row = {"example_id": "b", "image": "images/b.png", "label": "cat", "prediction": "dog"}
    first = json.dumps({**row, "example_id": "a", "split": "dev", "note": "short"})
    jsonl = first + "\n" + json.dumps({**row, "split": "dev", "note": long}) + "\n"
    job = run_import(zip_of({"predictions.jsonl": jsonl, "images/b.png": png_bytes()}), run="v2")
    assert job.status == JobStatus.FAILED
    assert messages(job) == [
        (2, "", "the line has a value longer than 1000 characters (in 'note')")
    ]
    assert_nothing_written()


def test_an_image_member_over_the_image_cap_is_a_row_error_read_no_further(
    import_measured, settings
):
    settings.MLSTRAT_IMPORT_MAX_IMAGE_BYTES = 1 * MB
    big = png_bytes() + os.urandom(30 * MB)  # a real PNG header, then 30 MB
    table = HEADER + "a,images/a.png,cat,dog,dev\nb,images/b.png,cat,cat,dev\n"
    dump = zip_of(
        {"predictions.csv": table, "images/a.png": big, "images/b.png": png_bytes()},
        zipfile.ZIP_STORED,
    ).getvalue()
    del big
    job, peak = import_measured(dump)
    assert messages(job) == [
        (
            2,
            "image",
            "images/a.png: the image holds more than 1048576 bytes "
            "(MLSTRAT_IMPORT_MAX_IMAGE_BYTES)",
        )
    ]
    assert peak < 4 * MB, peak
    assert_nothing_written()


def _declaring(dump: bytes, member: str, declared: int) -> bytes:
    """The zip with `member`'s uncompressed size forged, in both its headers."""
    info = zipfile.ZipFile(io.BytesIO(dump)).getinfo(member)
    data = bytearray(dump)
    struct.pack_into("<I", data, info.header_offset + 22, declared)
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        name_length = struct.unpack_from("<H", data, central + 28)[0]
        if bytes(data[central + 46 : central + 46 + name_length]) == member.encode():
            struct.pack_into("<I", data, central + 24, declared)
            break
        central = data.find(b"PK\x01\x02", central + 4)
    return bytes(data)


def test_an_image_declared_small_that_expands_a_lot_is_cut_at_the_declared_size(
    import_measured,
):
    # Deflated zeros: 40 MB in 40 KB. Declared 1 KB, so the archive's ratio check passes;
    # reading stops at the declared size and the CRC check then fails the member.
    bomb = png_bytes() + b"\0" * (40 * MB)
    table = HEADER + "a,images/a.png,cat,dog,dev\n"
    dump = zip_of({"predictions.csv": table, "images/a.png": bomb}).getvalue()
    del bomb
    job, peak = import_measured(_declaring(dump, "images/a.png", 1024))
    [(line, column, message)] = messages(job)
    assert (line, column) == (2, "image")
    assert message.startswith("images/a.png: the archive member is damaged")
    assert peak < 4 * MB, peak
    assert_nothing_written()
