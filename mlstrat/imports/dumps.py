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

from .ziparchive import DuplicateMember, IndexedZipFile, Member

TABLE_NAMES = [
    "predictions.csv",
    "predictions.jsonl",
    "predictions.csv.gz",
    "predictions.jsonl.gz",
]
GZIP_MAGIC = b"\x1f\x8b"
# Members smaller than this are never refused for their ratio (tiny text compresses well).
RATIO_MIN_BYTES = 64 * 1024


class DumpError(Exception):
    """The dump as a whole cannot be imported (not a row-level problem)."""


class UnreadableMember(Exception):
    """An archive member is listed but cannot be read (damaged data, bad CRC, an
    unsupported or encrypted entry): a row-level problem of the rows that name it."""


def clean_member_path(name: str) -> str | None:
    """A safe relative POSIX path, or None if it is absolute or climbs out with `..`."""
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

    def __call__(self, member: Member) -> None:
        self.members += 1
        if self.members > settings.MLSTRAT_IMPORT_MAX_MEMBERS:
            raise DumpError(
                f"The archive holds more than {settings.MLSTRAT_IMPORT_MAX_MEMBERS} members."
            )
        if clean_member_path(member.name) is None:
            raise DumpError(f"Unsafe path in the archive: {member.name!r} (absolute or with '..').")
        mode = member.external_attr >> 16
        if mode and stat.S_ISLNK(mode):
            raise DumpError(f"The archive member {member.name!r} is a symbolic link.")
        self.expanded += member.file_size
        if self.expanded > settings.MLSTRAT_IMPORT_MAX_EXPANDED_BYTES:
            raise DumpError(
                "The archive expands to more than "
                f"{settings.MLSTRAT_IMPORT_MAX_EXPANDED_BYTES} bytes."
            )
        if member.file_size >= RATIO_MIN_BYTES:
            ratio = member.file_size / max(member.compress_size, 1)
            if ratio > settings.MLSTRAT_IMPORT_MAX_RATIO:
                raise DumpError(
                    f"The archive member {member.name!r} expands {ratio:.0f}-fold "
                    f"(limit {settings.MLSTRAT_IMPORT_MAX_RATIO}): refused as a possible "
                    "decompression bomb."
                )


class Dump:
    """Access to a dump's table (opened anew for each pass) and its images by path."""

    def __init__(self, *, table_name: str, open_table, read_image):
        self.table_name = table_name
        self._open_table = open_table
        self._read_image = read_image

    def rows(self) -> Iterator[tuple[int, dict | None, str | None]]:
        """(line number, row, problem) for each row; row is None when the line is broken."""
        with self._open_table() as raw:
            if raw.read(2) == GZIP_MAGIC or self.table_name.endswith(".gz"):
                raw.seek(0)
                raw = gzip.GzipFile(fileobj=raw)
            else:
                raw.seek(0)
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            name = self.table_name.removesuffix(".gz")
            if name.endswith(".jsonl") or name.endswith(".json"):
                yield from _jsonl_rows(text)
            else:
                yield from _csv_rows(text)

    def image_bytes(self, path: str) -> bytes | None:
        """The image's bytes, or None if there is no such file."""
        clean = clean_member_path(path)
        if clean is None:
            return None
        return self._read_image(clean)


def _csv_rows(text) -> Iterator[tuple[int, dict | None, str | None]]:
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    except UnicodeDecodeError as exc:
        raise DumpError("The table is not UTF-8 text (line 1).") from exc
    except (csv.Error, EOFError, OSError) as exc:
        raise DumpError(f"The table cannot be read: {exc}") from exc
    header = [column.strip() for column in header]
    yield 1, {"__header__": header}, None
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


def _jsonl_rows(text) -> Iterator[tuple[int, dict | None, str | None]]:
    header_sent = False
    line = 0
    try:
        for line, raw in enumerate(text, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                yield line, None, f"is not valid JSON ({exc.msg})"
                continue
            if not isinstance(obj, dict):
                yield line, None, "is not a JSON object"
                continue
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
                yield 0, {"__header__": list(obj)}, None
            yield line, obj, None
    except UnicodeDecodeError as exc:
        raise DumpError(f"The table is not UTF-8 text (after line {line}).") from exc
    except (EOFError, OSError) as exc:
        raise DumpError(f"The table is broken after line {line}: {exc}") from exc


def _find_table(names) -> str:
    by_base = {}
    for name in names:
        base = posixpath.basename(name)
        if base in TABLE_NAMES:
            by_base.setdefault(base, name)
    for wanted in TABLE_NAMES:
        if wanted in by_base:
            return by_base[wanted]
    raise DumpError("No predictions.csv or predictions.jsonl (optionally .gz) found in the dump.")


def _is_zip(path: str) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == b"PK\x03\x04"


@contextmanager
def open_zip_dump(fileobj) -> Iterator[Dump]:
    """A zip dump, its members indexed compactly (ziparchive.py: a million images cost
    about 90 MB, not the 600 MB of zipfile's own index) and checked as they are listed."""
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
                    return handle.read(settings.MLSTRAT_IMPORT_MAX_EXPANDED_BYTES)
            except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
                raise UnreadableMember(f"the archive member is damaged ({exc})") from exc

        yield Dump(table_name=table, open_table=open_table, read_image=read_image)


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
        if target.stat().st_size > settings.MLSTRAT_IMPORT_MAX_EXPANDED_BYTES:
            return None
        return target.read_bytes()

    yield Dump(
        table_name=table_name or os.path.basename(table_path),
        open_table=open_table,
        read_image=read_image,
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


def _not_a_zip_message(file_name: str) -> str:
    """What to say of an upload that does not start like a zip, with no images folder."""
    name = posixpath.basename(file_name or "") or "The upload"
    if name.lower().endswith((".csv", ".jsonl", ".csv.gz", ".jsonl.gz")):
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
            raise DumpError(_not_a_zip_message(file_name))
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
    if _is_zip(path):
        with open(path, "rb") as handle, open_zip_dump(handle) as dump:
            yield dump
        return
    with open_folder_dump(
        table_path=path, images_dir=images_dir or os.path.dirname(os.path.abspath(path))
    ) as dump:
        yield dump
