"""Hostile dumps (zip slip, bombs, disguised files, broken tables): each gets a clear error
and writes nothing. The basic cases (`../` members, symlink members, ratio and size caps,
SVG/HTML named .png, a small-limit decompression bomb) live in tests/imports/test_bad_dumps.py;
these are the ones a peer shipped a hole for, with the server's files watched."""

import io
import json
import os
import struct
import zipfile
import zlib

import pytest
from django.core.files.storage import default_storage

from mlstrat.datasets.models import Dataset, Example, ModelRun, Prediction
from mlstrat.imports.models import ImportJob, JobStatus
from mlstrat.imports.services import import_job_create
from tests.imports import conftest as imports_conftest
from tests.imports.builders import csv_text, png_bytes, rows, zip_of

# The import tests' fixtures: run a job as a worker would; empty the media folder after.
run_import = imports_conftest.run_import
_clean_media = imports_conftest._clean_media

HEADER = "example_id,image,label,prediction,split\n"


def assert_nothing_written():
    assert not ModelRun.objects.exists()
    assert not Example.objects.exists()
    assert not Prediction.objects.exists()
    assert not Dataset.objects.exists()


def stored_files():
    root = default_storage.location
    found = []
    for folder, _, files in os.walk(root):
        found += [os.path.relpath(os.path.join(folder, f), root) for f in files]
    return sorted(f for f in found if not f.startswith("imports/"))


def table_zip(table: bytes, images=None) -> io.BytesIO:
    images = images if images is not None else {"images/a.png": png_bytes()}
    return zip_of({"predictions.csv": table, **images})


# ------------------------------------------------------------------ zip slip


@pytest.fixture
def sentinel(tmp_path, settings):
    """A file outside the media folder that an escaping member would overwrite."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    path = tmp_path / "sentinel.txt"
    path.write_text("untouched")
    return path


@pytest.mark.parametrize(
    "name",
    ["../sentinel.txt", "../../sentinel.txt", "images/../../sentinel.txt", "..\\sentinel.txt"],
)
def test_a_member_climbing_out_leaves_server_files_alone(run_import, sentinel, name):
    table = csv_text(rows(1)).encode()
    members = {"predictions.csv": table, "images/ex0000.png": png_bytes(), name: b"x"}
    job = run_import(zip_of(members))
    assert job.status == JobStatus.FAILED
    assert "Unsafe path in the archive" in job.message
    assert sentinel.read_text() == "untouched"
    assert stored_files() == []
    assert_nothing_written()


def test_an_absolute_member_path_leaves_server_files_alone(run_import, sentinel):
    job = run_import(zip_of({"predictions.csv": HEADER, str(sentinel): b"overwritten"}))
    assert job.status == JobStatus.FAILED
    assert "Unsafe path in the archive" in job.message
    assert sentinel.read_text() == "untouched"
    assert_nothing_written()


def test_a_symlink_member_pointing_at_a_server_file_is_refused(run_import, sentinel):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "predictions.csv",
            "example_id,image,label,prediction,split\na,images/a.png,cat,dog,dev\n",
        )
        link = zipfile.ZipInfo("images/a.png")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, str(sentinel))
    buffer.seek(0)
    job = run_import(buffer)
    assert job.message == "The archive member 'images/a.png' is a symbolic link."
    assert sentinel.read_text() == "untouched"
    assert_nothing_written()


def test_a_table_row_pointing_outside_the_dump_is_a_row_error(run_import, sentinel):
    table = rows(1)
    table[0]["image"] = "../sentinel.txt"
    job = run_import(zip_of({"predictions.csv": csv_text(table)}))
    assert job.status == JobStatus.FAILED
    assert job.errors[0]["column"] == "image"
    assert "must be a relative path inside the dump" in job.errors[0]["message"]
    assert_nothing_written()


def test_a_symlink_in_a_server_folder_cannot_reach_outside_it(
    project, alice, tmp_path, settings, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    outside = tmp_path / "secret.png"
    outside.write_bytes(png_bytes("blue"))
    dump = tmp_path / "dump"
    (dump / "images").mkdir(parents=True)
    (dump / "images" / "a.png").symlink_to(outside)
    (dump / "predictions.csv").write_text(HEADER + "a,images/a.png,cat,dog,dev\n")
    with django_capture_on_commit_callbacks(execute=True):
        job = import_job_create(
            project=project,
            user=alice,
            dataset_name="photos",
            run_name="v1",
            server_path=str(dump),
            allow_any_path=True,
        )
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.errors == [
        {"line": 2, "column": "image", "message": "images/a.png: no such file in the dump"}
    ]
    assert_nothing_written()


# ------------------------------------------------------------------ zip bombs


def _lying_zip(real: bytes, *, declared_size: int) -> io.BytesIO:
    """A zip whose member expands to `real` but whose headers declare `declared_size` bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("predictions.csv", real)
    data = bytearray(buffer.getvalue())
    real_size = struct.pack("<I", len(real))
    lie = struct.pack("<I", declared_size)
    # Local header: uncompressed size at offset 22; central directory: at offset 24.
    assert data[22:26] == real_size
    data[22:26] = lie
    central = data.rfind(b"PK\x01\x02")
    assert data[central + 24 : central + 28] == real_size
    data[central + 24 : central + 28] = lie
    return io.BytesIO(bytes(data))


def test_a_member_that_expands_past_its_declared_size_is_cut_off(run_import):
    # The caps read the declared sizes; the stream itself stops at the declared size and
    # the CRC check fails, so lying about the size cannot smuggle in more data.
    table = (HEADER + "a,images/a.png,cat,dog,dev\n" * 200_000).encode()
    job = run_import(_lying_zip(table, declared_size=100))
    assert job.status == JobStatus.FAILED
    assert "nothing was imported" in job.message.lower()
    assert_nothing_written()


def test_a_highly_compressed_table_is_refused_before_reading(run_import):
    # 50 MB of one repeated row compresses about 1000-fold.
    table = (HEADER + "a,images/a.png,cat,dog,dev\n" * 2_000_000).encode()
    job = run_import(zip_of({"predictions.csv": table}))
    assert job.status == JobStatus.FAILED
    assert "possible decompression bomb" in job.message
    assert_nothing_written()


def test_nested_zips_are_not_opened(run_import):
    inner = zip_of({"predictions.csv": HEADER}).getvalue()
    table = csv_text(rows(1)).encode()
    job = run_import(zip_of({"predictions.csv": table, "images/ex0000.png": inner}))
    assert job.status == JobStatus.FAILED
    assert job.errors[0]["message"].endswith(
        "not a readable image (PNG, JPEG, GIF, WEBP, BMP only)"
    )
    assert_nothing_written()


# ------------------------------------------------------------------ hostile images


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def huge_png(width=20_000, height=20_000) -> bytes:
    """A valid-looking PNG header announcing width x height pixels, in a few hundred bytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def _one_image_dump(content: bytes, name="images/ex0000.png") -> io.BytesIO:
    table = rows(1)
    table[0]["image"] = name
    return zip_of({"predictions.csv": csv_text(table), name: content})


def test_a_20000_by_20000_png_is_refused_with_the_default_limit(run_import):
    job = run_import(_one_image_dump(huge_png()))
    assert job.status == JobStatus.FAILED
    assert job.errors == [
        {
            "line": 2,
            "column": "image",
            "message": "images/ex0000.png: the image has more than 40000000 pixels "
            "(possible decompression bomb)",
        }
    ]
    assert_nothing_written()


def _truncated_png():
    data = png_bytes(size=(64, 64))
    return data[: len(data) // 2]


def _truncated_jpeg():
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buffer, "JPEG")
    return buffer.getvalue()[:100]


@pytest.mark.parametrize(
    "content",
    [
        b"",
        _truncated_png(),
        _truncated_jpeg(),
        b"\x89PNG\r\n\x1a\n" + b"\xff" * 200,
        b"#!/bin/sh\nrm -rf /\n",
        b"alert(document.cookie)//",
        b"GIF89a/*<script>alert(1)</script>*/",
        b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
        b"<!DOCTYPE html><img src=x onerror=alert(1)>",
    ],
    ids=[
        "zero-byte",
        "truncated-png",
        "truncated-jpeg",
        "corrupt-png",
        "shell-script",
        "javascript",
        "gif-polyglot",
        "svg-xml",
        "html",
    ],
)
def test_a_file_that_is_not_a_whole_image_is_a_row_error(run_import, content):
    job = run_import(_one_image_dump(content))
    assert job.status == JobStatus.FAILED
    assert job.errors == [
        {
            "line": 2,
            "column": "image",
            "message": "images/ex0000.png: not a readable image (PNG, JPEG, GIF, WEBP, BMP only)",
        }
    ]
    assert_nothing_written()


def test_an_svg_is_refused_even_named_svg(run_import):
    svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"
    job = run_import(_one_image_dump(svg, name="images/ex0000.svg"))
    assert job.status == JobStatus.FAILED
    assert job.errors[0]["message"] == (
        "images/ex0000.svg: not a readable image (PNG, JPEG, GIF, WEBP, BMP only)"
    )
    assert_nothing_written()


def test_a_tiff_is_refused_though_pillow_reads_it(run_import):
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, "TIFF")
    job = run_import(_one_image_dump(buffer.getvalue()))
    assert job.status == JobStatus.FAILED
    assert "not a readable image" in job.errors[0]["message"]
    assert_nothing_written()


# ------------------------------------------------------------------ hostile tables


def test_a_10_mb_line_is_refused_with_the_line(run_import):
    table = HEADER + "a,images/a.png,cat,dog,dev\n" + "b" * (10 * 1024 * 1024) + ",x,y,z,dev\n"
    # Stored, not deflated: a deflated run of one letter is refused for its ratio first.
    members = {"predictions.csv": table.encode(), "images/a.png": png_bytes()}
    job = run_import(zip_of(members, compression=zipfile.ZIP_STORED))
    assert job.status == JobStatus.FAILED
    assert job.message == (
        "Line 3 of the table is longer than 1048576 characters (MLSTRAT_IMPORT_MAX_LINE_BYTES)."
    )
    assert_nothing_written()


def test_a_nul_byte_in_the_table_is_refused(run_import):
    table = HEADER + "a\x00b,images/a.png,cat,dog,dev\n"
    job = run_import(table_zip(table.encode()))
    assert job.status == JobStatus.FAILED
    assert "NUL" in job.message or any("NUL" in e["message"] for e in job.errors)
    assert_nothing_written()


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16", "cp1252"])
def test_a_table_not_in_utf8_is_refused(run_import, encoding):
    table = HEADER + "café,images/a.png,chat noir é,dog,dev\n"
    job = run_import(table_zip(table.encode(encoding)))
    assert job.status == JobStatus.FAILED
    assert "not UTF-8 text" in job.message
    assert_nothing_written()


def test_a_utf8_bom_is_accepted_and_the_first_column_read_right(run_import):
    table = "\ufeff" + HEADER + "a,images/a.png,cat,dog,dev\n"
    job = run_import(table_zip(table.encode("utf-8")))
    assert job.status == JobStatus.SUCCEEDED, (job.message, job.errors)
    assert list(Example.objects.values_list("example_id", flat=True)) == ["a"]
    assert Example.objects.get().metadata == {}


def test_mixed_newlines_are_accepted(run_import):
    table = (
        "example_id,image,label,prediction,split\r\n"
        "a,images/a.png,cat,dog,dev\n"
        "b,images/b.png,dog,dog,dev\r\n"
        "c,images/c.png,cat,cat,test\r"
    )
    images = {f"images/{name}.png": png_bytes() for name in "abc"}
    job = run_import(table_zip(table.encode(), images=images))
    assert job.status == JobStatus.SUCCEEDED, (job.message, job.errors)
    assert sorted(Example.objects.values_list("example_id", "label", "split")) == [
        ("a", "cat", "dev"),
        ("b", "dog", "dev"),
        ("c", "cat", "test"),
    ]


def test_100000_columns_are_refused(run_import):
    extra = [f"m{i}" for i in range(100_000)]
    header = "example_id,image,label,prediction,split," + ",".join(extra) + "\n"
    row = "a,images/a.png,cat,dog,dev," + ",".join("x" for _ in extra) + "\n"
    job = run_import(table_zip((header + row).encode()))
    assert job.status == JobStatus.FAILED
    assert "columns" in job.message
    assert_nothing_written()
    assert ImportJob.objects.get().rows_written == 0


def test_a_nul_inside_nested_json_metadata_is_refused(run_import):
    row = {
        "example_id": "a",
        "image": "images/a.png",
        "label": "cat",
        "prediction": "dog",
        "split": "dev",
        "camera": {"model": "x\u0000y", "tags": ["ok", "bad\u0000"]},
    }
    members = {"predictions.jsonl": json.dumps(row) + "\n", "images/a.png": png_bytes()}
    job = run_import(zip_of(members))
    assert job.status == JobStatus.FAILED
    assert job.errors and job.errors[0]["column"] == "camera"
    assert "NUL" in job.errors[0]["message"]
    assert_nothing_written()
