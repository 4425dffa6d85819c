"""A zip archive opened with a compact index of its members.

`zipfile.ZipFile` keeps a `ZipInfo` object and a dict entry for every member: about
600 bytes each, so a dump of a million images took over 600 MB before reading a row.
`IndexedZipFile` reads the central directory one record at a time, hands each member to
a check (paths, sizes, symlinks: refused before anything is read), and keeps only what
reading a member needs, in flat arrays: well under 100 bytes a member. A member is looked up
by the hash of its cleaned path (binary search) and read with zipfile's own code
(`ZipFile.open` with a `ZipInfo` rebuilt for it), so decompression, CRC checks and
ZIP64 are the standard library's.
"""

import io
import struct
import zipfile
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import NamedTuple

_CENTRAL = struct.Struct(zipfile.structCentralDir)
_CENTRAL_MAGIC = zipfile.stringCentralDir
_UTF8_NAME = 0x800
_ZIP64_EXTRA = 0x0001
_ZIP64_MARK = 0xFFFFFFFF
_READ_CHUNK = 1 << 20
# Where zipfile's central directory fields are.
_FLAGS = zipfile._CD_FLAG_BITS
_COMPRESSED_SIZE = zipfile._CD_COMPRESSED_SIZE
_FILE_SIZE = zipfile._CD_UNCOMPRESSED_SIZE
_OFFSET = zipfile._CD_LOCAL_HEADER_OFFSET
_ATTRIBUTES = zipfile._CD_EXTERNAL_FILE_ATTRIBUTES
_CRC = zipfile._CD_CRC
_METHOD = zipfile._CD_COMPRESS_TYPE
_TIME = zipfile._CD_TIME


class Member(NamedTuple):
    """What the checks see of a member (its name as stored, and sizes). A tuple: one is
    made for each of up to a million members."""

    name: str
    file_size: int
    compress_size: int
    external_attr: int


class DuplicateMember(zipfile.BadZipFile):
    pass


class IndexedZipFile(zipfile.ZipFile):
    """A read-only ZipFile whose members are indexed by `key(name)` (a cleaned path;
    None leaves the member out) in flat arrays. `check(member)` runs on every member
    while the central directory is read, and may raise to refuse the archive.

    Use `names()`, `has(key)` and `open_member(key)`; the name-based ZipFile methods
    (`namelist`, `getinfo`, `open(name)`) see no members."""

    def __init__(
        self,
        file,
        *,
        key: Callable[[str], str | None],
        check: Callable[[Member], None] | None = None,
    ):
        self._key = key
        self._check = check
        super().__init__(file, "r")

    # ------------------------------------------------------------------ reading the index

    def _RealGetContents(self):  # noqa: N802 (zipfile's name)
        endrec = _end_record(self.fp)
        size_cd = endrec[zipfile._ECD_SIZE]
        offset_cd = endrec[zipfile._ECD_OFFSET]
        self._comment = endrec[zipfile._ECD_COMMENT]
        # Non-zero when the zip was appended to another file (as zipfile computes it).
        concat = endrec[zipfile._ECD_LOCATION] - size_cd - offset_cd
        if endrec[zipfile._ECD_SIGNATURE] == zipfile.stringEndArchive64:
            concat -= zipfile.sizeEndCentDir64 + zipfile.sizeEndCentDir64Locator
        self.start_dir = offset_cd + concat
        if self.start_dir < 0:
            raise zipfile.BadZipFile("Bad offset for central directory")
        self._keys = bytearray()  # the keys, UTF-8, one after the other
        self._key_ends = array("Q")
        self._stored_names = {}  # index -> name as stored, only where it differs from the key
        self._offsets = array("Q")
        self._compress_sizes = array("Q")
        self._file_sizes = array("Q")
        self._crcs = array("L")
        self._methods = array("H")
        self._flags = array("H")
        self._times = array("L")
        self._hashes = array("q")  # hash of each key, for _sort
        self._index(_central_records(self.fp, self.start_dir, size_cd), concat)
        self._sort()
        del self._hashes
        self.filelist, self.NameToInfo = [], {}

    def _index(self, records, concat: int) -> None:
        """Check and keep each member (names ending in "/" are folders: checked, not
        kept). One loop with its lookups bound to locals: it runs a million times for a
        million-image dump, before the first row is read."""
        check, key_of, stored_names = self._check, self._key, self._stored_names
        keys, hashes = self._keys, self._hashes
        add_key_end, add_offset = self._key_ends.append, self._offsets.append
        add_compress_size, add_file_size = self._compress_sizes.append, self._file_sizes.append
        add_crc, add_method = self._crcs.append, self._methods.append
        add_flags, add_time = self._flags.append, self._times.append
        for fields, raw_name, extra in records:
            flags = fields[_FLAGS]
            if raw_name.isascii():  # the same text in UTF-8 and cp437, decoded faster
                name = raw_name.decode("ascii")
            else:
                name = _decoded_name(raw_name, flags)
            compress_size = fields[_COMPRESSED_SIZE]
            file_size = fields[_FILE_SIZE]
            offset = fields[_OFFSET]
            if _ZIP64_MARK in (compress_size, file_size, offset):
                file_size, compress_size, offset = _zip64_values(
                    extra, file_size, compress_size, offset
                )
            if check is not None:
                check(Member(name, file_size, compress_size, fields[_ATTRIBUTES]))
            key = None if name.endswith("/") else key_of(name)
            if key is None:
                continue
            if key != name:
                stored_names[len(hashes)] = name
            encoded = key.encode()
            hashes.append(hash(encoded))
            keys.extend(encoded)
            add_key_end(len(keys))
            add_offset(offset + concat)
            add_compress_size(compress_size)
            add_file_size(file_size)
            add_crc(fields[_CRC])
            add_method(fields[_METHOD])
            add_flags(flags)
            add_time(fields[_TIME])

    def _sort(self) -> None:
        """One sorted array of (hash of the key, member index) packed in a 63-bit int:
        a lookup is a binary search, and sorting needs one list, not two."""
        count = len(self._offsets)
        bits = self._index_bits = max(1, count.bit_length())
        mask = self._hash_mask = (1 << (63 - bits)) - 1
        packed = sorted((h & mask) << bits | i for i, h in enumerate(self._hashes))
        self._sorted = array("q", packed)
        # Two keys alike have the same hash, so they lie side by side once sorted.
        for a, b in zip(packed, packed[1:], strict=False):
            if (a ^ b) >> bits == 0:
                first, second = self._unpack(a)[1], self._unpack(b)[1]
                if self._key_at(first) == self._key_at(second):
                    raise DuplicateMember(
                        f"The archive holds {self._key_at(first).decode()!r} twice."
                    )

    def _unpack(self, packed: int) -> tuple[int, int]:
        return packed >> self._index_bits, packed & ((1 << self._index_bits) - 1)

    def _key_at(self, index: int) -> bytes:
        start = self._key_ends[index - 1] if index else 0
        return bytes(self._keys[start : self._key_ends[index]])

    # ------------------------------------------------------------------ using it

    def __len__(self) -> int:
        return len(self._offsets)

    def names(self) -> Iterator[str]:
        """The members' keys, in archive order."""
        for index in range(len(self._offsets)):
            yield self._key_at(index).decode()

    def _find(self, key: str) -> int | None:
        wanted = key.encode()
        h = hash(wanted) & self._hash_mask
        i = bisect_left(self._sorted, h << self._index_bits)
        while i < len(self._sorted):
            found, index = self._unpack(self._sorted[i])
            if found != h:
                return None
            if self._key_at(index) == wanted:
                return index
            i += 1
        return None

    def reopen(self, path: str) -> None:
        """Read through a file of our own from now on (a forked child: the parent's file
        offset is shared with it, so reads through it would mix)."""
        import threading

        self.fp = open(path, "rb")  # noqa: SIM115 (closed with the archive)
        self._filePassed = False
        self._fileRefCnt = 1
        self._lock = threading.RLock()

    def has(self, key: str) -> bool:
        return self._find(key) is not None

    def open_member(self, key: str):
        """The member as a readable stream (zipfile's ZipExtFile); KeyError if absent."""
        index = self._find(key)
        if index is None:
            raise KeyError(key)
        info = zipfile.ZipInfo(self._stored_names.get(index) or key)
        info.header_offset = self._offsets[index]
        info.compress_size = self._compress_sizes[index]
        info.file_size = self._file_sizes[index]
        info.CRC = self._crcs[index]
        info.compress_type = self._methods[index]
        info.flag_bits = self._flags[index]
        info._raw_time = self._times[index]
        return self.open(info)


def _decoded_name(raw_name: bytes, flags: int) -> str:
    """A member's name: UTF-8 where its flag says so, else cp437 (which decodes any byte).
    A name flagged UTF-8 that is not refuses the archive, as a damaged directory does."""
    if not flags & _UTF8_NAME:
        return raw_name.decode("cp437")
    try:
        return raw_name.decode("utf-8")
    except UnicodeDecodeError as exc:
        shown = raw_name.decode("utf-8", "backslashreplace")
        raise zipfile.BadZipFile(
            f"the member name {shown!r} is marked UTF-8 but is not valid UTF-8"
        ) from exc


def _end_record(fp):
    try:
        endrec = zipfile._EndRecData(fp)
    except OSError as exc:
        raise zipfile.BadZipFile("File is not a zip file") from exc
    if not endrec:
        raise zipfile.BadZipFile("File is not a zip file")
    return endrec


def _central_records(fp, start: int, size: int) -> Iterator[tuple[tuple, bytes, bytes]]:
    """(fixed fields, name, extra) of each central directory record, parsed from chunks
    of the directory read in turn, so the directory itself is never held whole."""
    fp.seek(start)
    window = _Window(fp, size)
    fixed = _CENTRAL.size
    unpack = _CENTRAL.unpack_from
    buffer = b""
    position = 0
    read = 0
    while read < size:
        if len(buffer) - position < fixed:
            buffer = _refill(window, buffer, position, fixed)
            position = 0
        fields = unpack(buffer, position)
        if fields[zipfile._CD_SIGNATURE] != _CENTRAL_MAGIC:
            raise zipfile.BadZipFile("Bad magic number for central directory")
        name_length = fields[zipfile._CD_FILENAME_LENGTH]
        extra_length = fields[zipfile._CD_EXTRA_FIELD_LENGTH]
        record = fixed + name_length + extra_length + fields[zipfile._CD_COMMENT_LENGTH]
        if len(buffer) - position < record:
            buffer = _refill(window, buffer, position, record)
            position = 0
        name_start = position + fixed
        extra_start = name_start + name_length
        yield (
            fields,
            buffer[name_start:extra_start],
            buffer[extra_start : extra_start + extra_length],
        )
        position += record
        read += record


def _refill(window, buffer: bytes, position: int, wanted: int) -> bytes:
    """The unparsed rest of `buffer` followed by the next chunk of the directory: at
    least `wanted` bytes, else the directory is truncated."""
    rest = buffer[position:]
    while len(rest) < wanted:
        chunk = window.read(max(_READ_CHUNK, wanted - len(rest)))
        if not chunk:
            raise zipfile.BadZipFile("Truncated central directory")
        rest += chunk
    return rest


def _zip64_values(extra: bytes, file_size: int, compress_size: int, offset: int):
    """The ZIP64 extra field holds, in this order, each of these that is 0xFFFFFFFF."""
    position = 0
    while position + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, position)
        body = extra[position + 4 : position + 4 + length]
        if tag == _ZIP64_EXTRA:
            values = list(struct.unpack_from(f"<{len(body) // 8}Q", body))
            if file_size == _ZIP64_MARK:
                file_size = _take(values)
            if compress_size == _ZIP64_MARK:
                compress_size = _take(values)
            if offset == _ZIP64_MARK:
                offset = _take(values)
            return file_size, compress_size, offset
        position += 4 + length
    raise zipfile.BadZipFile("A ZIP64 member has no ZIP64 extra field")


def _take(values: list[int]) -> int:
    if not values:
        raise zipfile.BadZipFile("Corrupt ZIP64 extra field")
    return values.pop(0)


class _Window(io.RawIOBase):
    """At most `size` bytes of `fp` from where it stands (the central directory)."""

    def __init__(self, fp, size: int):
        self._fp = fp
        self._left = size

    def readable(self):
        return True

    def readinto(self, buffer):
        n = min(len(buffer), self._left)
        if n <= 0:
            return 0
        data = self._fp.read(n)
        buffer[: len(data)] = data
        self._left -= len(data)
        return len(data)
