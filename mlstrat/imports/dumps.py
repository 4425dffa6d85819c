"""Reading prediction dumps: a zip (table + images), a table with an images folder, or a
folder holding both. Rows are streamed one at a time; nothing holds the whole dump.

Archive members are checked before anything is read: absolute paths, `..`, symlinks,
too many members, too much expanded data or a suspicious compression ratio refuse the
whole archive (a job-level error).
"""

import csv
import gzip
import io
import json
import os
import posixpath
import stat
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from .multitask import is_multitask_row, spread_tasks
from .parquet import parquet_rows
from .ziparchive import DuplicateMember, IndexedZipFile, Member

TABLE_NAMES = [
    "predictions.csv",
    "predictions.jsonl",
    "predictions.csv.gz",
    "predictions.jsonl.gz",
    "predictions.parquet",
]
GZIP_MAGIC = b"\x1f\x8b"
# Members smaller than this are never refused for their ratio (tiny text compresses well).
RATIO_MIN_BYTES = 64 * 1024
_IMAGE_STEP = 256 * 1024


class DumpError(Exception):
    """The dump as a whole cannot be imported (not a row-level problem)."""


class HeaderRow(list):
    """The table's column names, which Dump.rows() yields before the data rows: a type of
    its own, since a data row may hold a column of any name."""


class UnreadableMember(Exception):
    """An archive member is listed but cannot be read (damaged data, bad CRC, an
    unsupported or encrypted entry): a row-level problem of the rows that name it."""


def clean_member_path(name: str) -> str | None:
    """A safe relative POSIX path, or None if it is absolute or climbs out with `..`."""
    if (
        name
        and "\\" not in name
        and name[0] not in "/."
        and "/." not in name
        and "//" not in name
        and name[-1] != "/"
        and name[1:2] != ":"
    ):
        # Already clean (the usual name: no empty, "." or ".." part, no trailing slash),
        # so normpath would give it back unchanged: a million members skip its work.
        return name
    return _cleaned_path(name)


def _cleaned_path(name: str) -> str | None:
    name = name.replace("\\", "/")
    if not name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return None
    parts = name.split("/")
    if any(part == ".." for part in parts):
        return None
    return posixpath.normpath(name)


class ArchiveCheck:
    """Refuses an unsafe or oversized archive, member by member, while its directory is
    read (before any member is): too many members, a path that is absolute or climbs out,
    a symbolic link, too much expanded data, a suspicious compression ratio."""

    def __init__(self):
        self.members = 0
        self.expanded = 0
        # Read once: the check runs for each of up to a million members.
        self.max_members = settings.MLSTRAT_IMPORT_MAX_MEMBERS
        self.max_expanded = settings.MLSTRAT_IMPORT_MAX_EXPANDED_BYTES
        self.max_ratio = settings.MLSTRAT_IMPORT_MAX_RATIO

    def __call__(self, member: Member) -> None:
        self.members += 1
        if self.members > self.max_members:
            raise DumpError(f"The archive holds more than {self.max_members} members.")
        if clean_member_path(member.name) is None:
            raise DumpError(f"Unsafe path in the archive: {member.name!r} (absolute or with '..').")
        mode = member.external_attr >> 16
        if mode and stat.S_ISLNK(mode):
            raise DumpError(f"The archive member {member.name!r} is a symbolic link.")
        self.expanded += member.file_size
        if self.expanded > self.max_expanded:
            raise DumpError(f"The archive expands to more than {self.max_expanded} bytes.")
        if member.file_size >= RATIO_MIN_BYTES:
            ratio = member.file_size / max(member.compress_size, 1)
            if ratio > self.max_ratio:
                raise DumpError(
                    f"The archive member {member.name!r} expands {ratio:.0f}-fold "
                    f"(limit {self.max_ratio}): refused as a possible decompression bomb."
                )


class Dump:
    """Access to a dump's table (opened anew for each pass) and its images by path."""

    def __init__(self, *, table_name: str, open_table, read_image, reopen=None):
        self.table_name = table_name
        self._open_table = open_table
        self._read_image = read_image
        self._reopen = reopen

    @property
    def can_reopen(self) -> bool:
        """Whether a forked child may read images through its own file (`reopen`)."""
        return self._reopen is not None

    def reopen(self) -> None:
        self._reopen()

    def rows(self) -> Iterator[tuple[int, dict | None, str | None]]:
        """(line number, row, problem) for each row; row is None when the line is broken,
        a HeaderRow for the header (first; JSON Lines: the first object's keys).

        Bounded however the table lies: every byte is counted as it is decompressed (a
        gzip table may expand at most MLSTRAT_IMPORT_MAX_RATIO-fold and to at most
        MLSTRAT_IMPORT_MAX_EXPANDED_BYTES), a line holds at most
        MLSTRAT_IMPORT_MAX_LINE_BYTES characters and a field (CSV cell, JSON string) at
        most MLSTRAT_IMPORT_MAX_FIELD_BYTES. Nothing is read whole."""
        if self.table_name.endswith(".parquet"):
            with self._open_table() as raw:
                yield from parquet_rows(_Counted(raw, what="The table"))
            return
        with self._open_table() as raw:
            compressed = _Counted(raw, what="The table")
            if compressed.read(2) == GZIP_MAGIC or self.table_name.endswith(".gz"):
                compressed.seek(0)
                expanded = _Counted(_Gunzip(compressed), what="The gzip table", source=compressed)
            else:
                compressed.seek(0)
                expanded = compressed
            text = io.TextIOWrapper(
                io.BufferedReader(expanded, buffer_size=1 << 16), encoding="utf-8-sig", newline=""
            )
            lines = _capped_lines(text)
            name = self.table_name.removesuffix(".gz")
            try:
                if name.endswith(".jsonl") or name.endswith(".json"):
                    yield from _jsonl_rows(lines)
                else:
                    yield from _csv_rows(lines)
            except (zlib.error, gzip.BadGzipFile) as exc:
                raise DumpError(f"The gzip table is damaged ({exc}).") from exc

    def image_bytes(self, path: str) -> bytes | None:
        """The image's bytes, or None if there is no such file. UnreadableMember when it
        cannot be read, or holds more than MLSTRAT_IMPORT_MAX_IMAGE_BYTES."""
        clean = clean_member_path(path)
        if clean is None:
            return None
        return self._read_image(clean)


class _Gunzip(io.RawIOBase):
    """A gzip stream (one member or several) decompressed in small steps: compressed input
    is read 4 KiB at a time and each call yields at most what was asked, so the bytes
    counted in and out (`_Counted`) are what the decompressor really consumed and made."""

    STEP = 4096

    def __init__(self, source):
        self._source = source
        self._inflater = zlib.decompressobj(wbits=31)
        self._pending = b""
        self._done = False

    def readable(self):
        return True

    def readinto(self, buffer):
        while not self._done:
            if not self._pending:
                self._pending = self._source.read(self.STEP)
                if not self._pending:
                    if not self._inflater.eof:
                        raise gzip.BadGzipFile("the gzip stream ends early")
                    self._done = True
                    break
            data = self._inflater.decompress(self._pending, len(buffer))
            self._pending = self._inflater.unconsumed_tail
            if self._inflater.eof:
                # Another member may follow (concatenated gzip files).
                rest = self._inflater.unused_data + self._pending
                self._inflater = zlib.decompressobj(wbits=31)
                self._pending = rest
                if not rest:
                    self._pending = self._source.read(self.STEP)
                    if not self._pending:
                        self._done = True
            if data:
                buffer[: len(data)] = data
                return len(data)
        return 0


class _Counted(io.RawIOBase):
    """Counts the bytes read through it and refuses, as they stream, more than
    MLSTRAT_IMPORT_MAX_EXPANDED_BYTES, or (given the compressed `source` it expands) more
    than MLSTRAT_IMPORT_MAX_RATIO times what was read of the source. Declared sizes play
    no part: only bytes actually produced count. Rewinds once to its start (to sniff a
    gzip header)."""

    def __init__(self, handle, *, what: str, source=None):
        self._handle = handle
        self._what = what
        self._source = source
        self.count = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._handle.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        if self.count > settings.MLSTRAT_IMPORT_MAX_EXPANDED_BYTES:
            raise DumpError(
                f"{self._what} expands to more than "
                f"{settings.MLSTRAT_IMPORT_MAX_EXPANDED_BYTES} bytes."
            )
        if self._source is not None and self.count >= RATIO_MIN_BYTES:
            ratio = self.count / max(self._source.count, 1)
            if ratio > settings.MLSTRAT_IMPORT_MAX_RATIO:
                raise DumpError(
                    f"{self._what} expands more than {settings.MLSTRAT_IMPORT_MAX_RATIO}-fold: "
                    "refused as a possible decompression bomb."
                )
        return len(data)

    def seek(self, offset, whence=0):
        if offset != 0 or whence != 0:
            raise io.UnsupportedOperation("only a rewind to the start is supported")
        self._handle.seek(0)
        self.count = 0
        return 0

    def seekable(self):
        return True


def _capped_lines(text) -> Iterator[str]:
    """The text's lines (any newline), none longer than MLSTRAT_IMPORT_MAX_LINE_BYTES
    characters: a longer one stops the table with its line number, before it is held."""
    limit = settings.MLSTRAT_IMPORT_MAX_LINE_BYTES
    number = 0
    while True:
        line = text.readline(limit + 1)
        if not line:
            return
        number += 1
        if len(line) > limit:
            raise DumpError(
                f"Line {number} of the table is longer than {limit} characters "
                "(MLSTRAT_IMPORT_MAX_LINE_BYTES)."
            )
        yield line


def _csv_rows(lines) -> Iterator[tuple[int, dict | None, str | None]]:
    csv.field_size_limit(settings.MLSTRAT_IMPORT_MAX_FIELD_BYTES)
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        return
    except UnicodeDecodeError as exc:
        raise DumpError("The table is not UTF-8 text (line 1).") from exc
    except (csv.Error, EOFError, OSError) as exc:
        raise DumpError(f"The table cannot be read: {exc}") from exc
    header = [column.strip() for column in header]
    yield 1, HeaderRow(header), None
    line = 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            raise DumpError(f"The table is not UTF-8 text (after line {line}).") from exc
        except (csv.Error, EOFError, OSError) as exc:
            raise DumpError(f"The table is broken after line {line}: {exc}") from exc
        line = reader.line_num
        if not values or all(not value.strip() for value in values):
            continue
        if len(values) != len(header):
            yield line, None, f"has {len(values)} fields, the header has {len(header)}"
            continue
        yield line, dict(zip(header, values, strict=True)), None


def _jsonl_rows(lines) -> Iterator[tuple[int, dict | None, str | None]]:
    header_sent = False
    line = 0
    try:
        for line, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw, parse_int=_json_int)
            except json.JSONDecodeError as exc:
                yield line, None, f"is not valid JSON ({exc.msg})"
                continue
            except RecursionError:
                yield line, None, "is not valid JSON (nested too deeply)"
                continue
            if not isinstance(obj, dict):
                yield line, None, "is not a JSON object"
                continue
            too_long = _longest_string_over(obj, settings.MLSTRAT_IMPORT_MAX_FIELD_BYTES)
            if too_long is not None:
                yield (
                    line,
                    None,
                    f"has a value longer than {settings.MLSTRAT_IMPORT_MAX_FIELD_BYTES} "
                    f"characters (in {too_long!r})",
                )
                continue
            if is_multitask_row(obj):
                problem = spread_tasks(obj)
                if problem:
                    yield line, None, problem
                    continue
                probabilities = None
            else:
                probabilities = obj.pop("probabilities", None)
            if isinstance(probabilities, dict):
                for cls, value in probabilities.items():
                    obj[f"prob_{cls}"] = value
            elif probabilities is not None:
                yield line, None, "'probabilities' must be an object of class to probability"
                continue
            if not header_sent:
                # JSON Lines has no header: the first object's keys stand for it.
                header_sent = True
                yield 0, HeaderRow(obj), None
            yield line, obj, None
    except UnicodeDecodeError as exc:
        raise DumpError(f"The table is not UTF-8 text (after line {line}).") from exc
    except (EOFError, OSError) as exc:
        raise DumpError(f"The table is broken after line {line}: {exc}") from exc


def _json_int(text: str) -> int | str:
    """A JSON integer; one with more digits than Python converts (4300) stays text, for the
    row checks to refuse where a number belongs (a probability) and to keep as written
    elsewhere (metadata)."""
    try:
        return int(text)
    except ValueError:
        return text


def _longest_string_over(obj: dict, limit: int) -> str | None:
    """The top-level key under which a key or string is longer than `limit`, if any."""

    def over(value) -> bool:
        if isinstance(value, str):
            return len(value) > limit
        if isinstance(value, dict):
            return any(len(k) > limit or over(v) for k, v in value.items())
        if isinstance(value, list):
            return any(over(item) for item in value)
        return False

    for key, value in obj.items():
        if len(key) > limit or over(value):
            return key[:40]
    return None


def _find_table(names) -> str:
    by_base = {}
    for name in names:
        base = posixpath.basename(name)
        if base in TABLE_NAMES:
            by_base.setdefault(base, name)
    for wanted in TABLE_NAMES:
        if wanted in by_base:
            return by_base[wanted]
    raise DumpError(
        "No predictions.csv, predictions.jsonl (optionally .gz) or predictions.parquet "
        "found in the dump."
    )


def is_zip(path: str) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


@contextmanager
def open_zip_dump(fileobj, *, path: str = "") -> Iterator[Dump]:
    """A zip dump, its members indexed compactly (ziparchive.py: a million images cost
    about 90 MB, not the 600 MB of zipfile's own index) and checked as they are listed.
    With the archive's `path`, forked children can read it through their own file."""
    try:
        archive = IndexedZipFile(fileobj, key=clean_member_path, check=ArchiveCheck())
    except DuplicateMember as exc:
        raise DumpError(f"{exc} Each member must appear once.") from exc
    except (zipfile.BadZipFile, OSError) as exc:
        raise DumpError(f"The upload is not a readable zip archive ({exc}).") from exc
    with archive:
        table = _find_table(archive.names())
        # Image paths in the table are relative to the table's folder inside the archive.
        prefix = posixpath.dirname(table)

        @contextmanager
        def open_table():
            with archive.open_member(table) as handle:
                # zip members are not seekable: buffer the first bytes to sniff gzip.
                yield _Rewindable(handle)

        def read_image(path):
            try:
                handle = archive.open_member(posixpath.normpath(posixpath.join(prefix, path)))
            except KeyError:
                return None
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError) as exc:
                # A damaged local header, an unsupported method, an encrypted entry.
                raise UnreadableMember(f"the archive member cannot be read ({exc})") from exc
            try:
                with handle:
                    return _read_capped(handle)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise UnreadableMember(f"the archive member is damaged ({exc})") from exc

        def reopen():
            archive.reopen(path)

        yield Dump(
            table_name=table,
            open_table=open_table,
            read_image=read_image,
            reopen=reopen if path else None,
        )


def _read_capped(handle) -> bytes:
    """At most MLSTRAT_IMPORT_MAX_IMAGE_BYTES from the handle, counted as they are
    decompressed (whatever size the archive declares); more is refused."""
    limit = settings.MLSTRAT_IMPORT_MAX_IMAGE_BYTES
    # Small reads: zipfile decompresses as much as one read asks for before it cuts the
    # output at the declared size, so one big read of a forged member would expand it all.
    pieces = []
    total = 0
    while piece := handle.read(_IMAGE_STEP):
        total += len(piece)
        if total > limit:
            raise UnreadableMember(
                f"the image holds more than {limit} bytes (MLSTRAT_IMPORT_MAX_IMAGE_BYTES)"
            )
        pieces.append(piece)
    return b"".join(pieces)


class _Rewindable(io.RawIOBase):
    """A forward-only stream that may be rewound once to its start (to sniff a header)."""

    def __init__(self, handle):
        self._handle = handle
        self._head = b""
        self._pos = 0
        self._buffering = True

    def readable(self):
        return True

    def read(self, size=-1):
        if self._buffering and self._pos == len(self._head):
            chunk = self._handle.read(size)
            self._head += chunk
            self._pos += len(chunk)
            return chunk
        if self._pos < len(self._head):
            end = len(self._head) if size is None or size < 0 else self._pos + size
            chunk = self._head[self._pos : end]
            self._pos += len(chunk)
            return chunk
        return self._handle.read(size)

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset, whence=0):
        if offset != 0 or whence != 0:
            raise io.UnsupportedOperation("only a rewind to the start is supported")
        self._pos = 0
        self._buffering = False
        return 0

    def seekable(self):
        return True


@contextmanager
def open_folder_dump(
    *, table_path: str, images_dir: str, table_fileobj=None, table_name: str = ""
) -> Iterator[Dump]:
    root = Path(images_dir).resolve()

    @contextmanager
    def open_table():
        if table_fileobj is not None:
            table_fileobj.seek(0)
            yield _Unclosable(table_fileobj)
            return
        with open(table_path, "rb") as handle:
            yield handle

    def read_image(path):
        target = (root / path).resolve()
        if root not in target.parents or not target.is_file():
            return None
        with open(target, "rb") as handle:
            return _read_capped(handle)

    yield Dump(
        table_name=table_name or os.path.basename(table_path),
        open_table=open_table,
        read_image=read_image,
        reopen=lambda: None,  # images are read by path: nothing shared to reopen
    )


class _Unclosable(io.RawIOBase):
    """Lets a pass read the uploaded table without closing it for the next pass."""

    def __init__(self, handle):
        self._handle = handle

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self._handle.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset, whence=0):
        return self._handle.seek(offset, whence)

    def seekable(self):
        return True


def not_a_zip_message(file_name: str) -> str:
    """What to say of an upload that does not start like a zip, with no images folder."""
    name = posixpath.basename(file_name or "") or "The upload"
    if name.lower().endswith((".csv", ".jsonl", ".csv.gz", ".jsonl.gz", ".parquet")):
        return (
            f"“{name}” is a table, not a zip: upload a zip holding the table and the images, "
            "or name the images folder on the server (images_dir)."
        )
    return (
        f"“{name}” is not a zip (its first bytes are not a zip's): upload a zip holding "
        "predictions.csv or predictions.jsonl and the images."
    )


@contextmanager
def open_dump(
    *, path: str = "", images_dir: str = "", fileobj=None, file_name: str = ""
) -> Iterator[Dump]:
    """Open a dump given as a zip, a table file (images in `images_dir` or beside it), or a
    folder holding the table and the images. `fileobj` (a seekable binary file, named
    `file_name`) wins over `path` for uploads kept in storage."""
    if fileobj is not None:
        head = fileobj.read(4)
        fileobj.seek(0)
        if head == b"PK\x03\x04":
            with open_zip_dump(fileobj) as dump:
                yield dump
            return
        if not images_dir:
            raise DumpError(not_a_zip_message(file_name))
        with open_folder_dump(
            table_path="", images_dir=images_dir, table_fileobj=fileobj, table_name=file_name
        ) as dump:
            yield dump
        return
    if os.path.isdir(path):
        table = _find_table(os.listdir(path))
        with open_folder_dump(
            table_path=os.path.join(path, table), images_dir=images_dir or path
        ) as dump:
            yield dump
        return
    if not os.path.isfile(path):
        raise DumpError(f"No such file or folder: {path}")
    if is_zip(path):
        with open(path, "rb") as handle, open_zip_dump(handle, path=path) as dump:
            yield dump
        return
    with open_folder_dump(
        table_path=path, images_dir=images_dir or os.path.dirname(os.path.abspath(path))
    ) as dump:
        yield dump
