"""Zip dumps are indexed compactly (mlstrat/imports/ziparchive.py): a million-image dump
must not cost zipfile's 600 MB of member objects before a row is read. Members are found
by their cleaned path and read with zipfile's own code; a name that appears twice, or a
damaged member, is reported, not guessed at."""

import io
import struct
import tracemalloc
import zipfile

import hypothesis
import pytest
from hypothesis import given, strategies

from mlstrat.imports import ziparchive
from mlstrat.imports.dumps import ArchiveCheck, _cleaned_path, clean_member_path
from mlstrat.imports.models import JobStatus
from mlstrat.imports.ziparchive import DuplicateMember, IndexedZipFile, _zip64_values

from .builders import png_bytes, rows, zip_dump, zip_of
from .test_bad_dumps import assert_nothing_written, messages


def indexed(fileobj, **kwargs):
    return IndexedZipFile(fileobj, key=clean_member_path, **kwargs)


def test_members_are_found_by_path_and_read_whole():
    fileobj = zip_of({"predictions.csv": "a,b\n", "images/": b"", "images/x.png": b"\x89PNG"})
    with indexed(fileobj) as zip_index:
        assert list(zip_index.names()) == ["predictions.csv", "images/x.png"]  # no folders
        assert zip_index.has("images/x.png") and not zip_index.has("images/y.png")
        with zip_index.open_member("images/x.png") as handle:
            assert handle.read() == b"\x89PNG"
        with pytest.raises(KeyError):
            zip_index.open_member("images")


def test_stored_and_deflated_members_both_read():
    data = png_bytes(size=(64, 64)) * 3
    for compression in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2):
        with indexed(zip_of({"a.png": data}, compression)) as zip_index:
            with zip_index.open_member("a.png") as handle:
                assert handle.read() == data


def test_a_member_stored_under_an_untidy_name_is_found_by_its_clean_path():
    fileobj = zip_of({"./images//x.png": b"one", "images\\y.png": b"two"})
    with indexed(fileobj) as zip_index:
        assert sorted(zip_index.names()) == ["images/x.png", "images/y.png"]
        with zip_index.open_member("images/x.png") as handle:
            assert handle.read() == b"one"
        with zip_index.open_member("images/y.png") as handle:
            assert handle.read() == b"two"


def test_a_zip_appended_to_another_file_still_reads():
    inner = zip_of({"predictions.csv": "a\n", "images/x.png": b"x"}).getvalue()
    fileobj = io.BytesIO(b"#!/bin/sh\nexit 0\n" + inner)
    with indexed(fileobj) as zip_index:
        with zip_index.open_member("images/x.png") as handle:
            assert handle.read() == b"x"


def test_a_path_that_appears_twice_refuses_the_archive():
    fileobj = zip_of({"images/x.png": b"one", "./images/x.png": b"two"})
    with pytest.raises(DuplicateMember, match="'images/x.png' twice"):
        indexed(fileobj)


def test_a_dump_with_a_path_twice_fails_with_the_reason(run_import):
    table = rows(2)
    images = {"images/ex0000.png": png_bytes(), "./images/ex0000.png": png_bytes("blue")}
    images["images/ex0001.png"] = png_bytes()
    job = run_import(zip_dump(table, images=images))
    assert job.status == JobStatus.FAILED
    assert (
        job.message == "The archive holds 'images/ex0000.png' twice. Each member must appear once."
    )
    assert_nothing_written()


def test_every_member_is_checked_while_the_directory_is_read(settings):
    settings.MLSTRAT_IMPORT_MAX_MEMBERS = 2
    check = ArchiveCheck()
    fileobj = zip_of({"a": b"1", "b": b"2", "c": b"3"})
    with pytest.raises(Exception, match="more than 2 members"):
        indexed(fileobj, check=check)
    assert check.members == 3


def test_a_damaged_member_is_a_row_error_and_the_others_are_still_checked(run_import):
    table = rows(3)
    good, damaged = png_bytes("green", (32, 32)), png_bytes("red", (32, 32))
    images = {row["image"]: good for row in table}
    images["images/ex0001.png"] = damaged
    dump = zip_dump(table, images=images).getvalue()
    # Flip bytes inside that member's data: its CRC no longer matches.
    info = zipfile.ZipFile(io.BytesIO(dump)).getinfo("images/ex0001.png")
    name_length, extra_length = struct.unpack_from("<HH", dump, info.header_offset + 26)
    at = info.header_offset + 30 + name_length + extra_length + 10
    dump = dump[:at] + bytes(b ^ 0xFF for b in dump[at : at + 8]) + dump[at + 8 :]
    job = run_import(io.BytesIO(dump))
    assert job.status == JobStatus.FAILED
    [(line, column, message)] = messages(job)
    assert (line, column) == (3, "image")
    assert message.startswith("images/ex0001.png: the archive member is damaged")
    assert_nothing_written()


def test_the_index_costs_a_fraction_of_zipfiles_own():
    members = {f"images/ex{n:06d}.png": b"" for n in range(50_000)}
    fileobj = zip_of(members, zipfile.ZIP_STORED)

    def peak(open_archive):
        fileobj.seek(0)
        tracemalloc.start()
        opened = open_archive()
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        opened.close()
        return top

    ours = peak(lambda: indexed(fileobj))
    theirs = peak(lambda: zipfile.ZipFile(fileobj))
    assert ours < theirs / 3, (ours, theirs)
    assert ours < 50_000 * 200  # bytes per member, sorting included


def test_zip64_sizes_and_offset_come_from_the_extra_field():
    extra = struct.pack("<HH3Q", 0x0001, 24, 5_000_000_000, 4_000_000_000, 7_000_000_000)
    mark = 0xFFFFFFFF
    assert _zip64_values(extra, mark, mark, mark) == (5_000_000_000, 4_000_000_000, 7_000_000_000)
    only_offset = struct.pack("<HH1Q", 0x0001, 8, 7_000_000_000)
    assert _zip64_values(only_offset, 10, 9, mark) == (10, 9, 7_000_000_000)
    with pytest.raises(zipfile.BadZipFile):
        _zip64_values(b"", mark, 9, 8)


@hypothesis.settings(max_examples=2000, deadline=None, database=None)
@given(strategies.text(alphabet="a./\\:", max_size=12))
def test_a_name_taken_as_clean_as_is_cleaned_the_same_the_long_way(name):
    """clean_member_path skips the normalising for a name already clean: for any name it
    gives what the full cleaning gives."""
    assert clean_member_path(name) == _cleaned_path(name)


def test_records_split_across_reads_are_parsed_whole(monkeypatch):
    """The directory is read in chunks: a record (fixed part, name, extra, comment) cut by
    a chunk's end is put together again, whatever the chunk size."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n in range(40):
            info = zipfile.ZipInfo(f"images/{'long-' * (n % 7)}{n:03d}.png")
            info.comment = b"c" * (n % 5)
            info.extra = struct.pack("<HH", 0xCAFE, n % 4) + b"x" * (n % 4)
            archive.writestr(info, f"data {n}")
    expected = [f"images/{'long-' * (n % 7)}{n:03d}.png" for n in range(40)]
    for chunk in (1, 7, 46, 64, 1 << 20):
        monkeypatch.setattr(ziparchive, "_READ_CHUNK", chunk)
        buffer.seek(0)
        with indexed(buffer) as zip_index:
            assert list(zip_index.names()) == expected, chunk
            with zip_index.open_member(expected[33]) as handle:
                assert handle.read() == b"data 33"


def test_a_truncated_directory_refuses_the_archive():
    data = zip_of({f"images/{n}.png": b"x" for n in range(5)}).getvalue()
    end = data.rindex(b"PK\x05\x06")
    size = struct.unpack_from("<I", data, end + 12)[0]
    # The end record declares a directory 30 bytes longer than the records there are.
    forged = data[: end + 12] + struct.pack("<I", size + 30) + data[end + 16 :]
    with pytest.raises(zipfile.BadZipFile):
        indexed(io.BytesIO(forged))
