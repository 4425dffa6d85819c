"""What image formats mlstrat accepts and how they are identified (by content, never name),
and how stored images are read.

An imported image is stored in a *pack*: one stored object holding many images one after
the other (an import writes a pack per batch of rows instead of a file per image, so a
million-image dump is a few hundred objects, not a million files). An example records the
pack's name with the image's offset and size; `read_stored` reads that byte range, from the
local disk or, on S3-compatible storage, with a ranged GET. An example without an offset
names a file that is the whole image (images stored before packs, and tests' factories).
"""

from PIL import Image

# Pillow format name -> MIME type. Anything else (SVG, HTML, TIFF, ...) is refused.
ALLOWED_FORMATS = {
    "PNG": "image/png",
    "JPEG": "image/jpeg",
    "GIF": "image/gif",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
}

_SIGNATURES = [
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
]


# Thumbnails are at most this many pixels on their longer side.
THUMBNAIL_SIDE = 256
# Formats every browser shows: an image this small in one of them is its own thumbnail.
SHOWN_AS_IS = {"PNG", "JPEG", "GIF", "WEBP"}


def is_own_thumbnail(image_format: str | None, size: tuple[int, int]) -> bool:
    """Whether an image of this format and size is shown as its own thumbnail (no second
    copy is made): the import records it so as it writes the example, the thumbnail pass
    for images stored otherwise."""
    return image_format in SHOWN_AS_IS and max(size) <= THUMBNAIL_SIDE


def sniff_content_type(head: bytes) -> str:
    for magic, mime in _SIGNATURES:
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def content_type_for(handle) -> str:
    head = handle.read(16)
    handle.seek(0)
    return sniff_content_type(head)


def open_image(fp) -> Image.Image:
    """Open with Pillow restricted to the allowed formats (raises on anything else)."""
    return Image.open(fp, formats=list(ALLOWED_FORMATS))


def storage_is_local() -> bool:
    """Whether the default storage keeps files on this machine's disk (it answers `path`;
    remote storages such as S3 inherit a `path` that raises NotImplementedError)."""
    from django.core.files.storage import default_storage

    try:
        default_storage.path("")
    except NotImplementedError:
        return False
    return True


def read_stored(name: str, offset: int | None = None, size: int | None = None) -> bytes:
    """The bytes of a stored object, or of `size` bytes at `offset` in it (a packed image).
    FileNotFoundError when it is gone."""
    from django.core.files.storage import default_storage

    if offset is None or size is None:
        with default_storage.open(name, "rb") as handle:
            return handle.read()
    if storage_is_local():
        with open(default_storage.path(name), "rb") as handle:
            return _range(handle, name, offset, size)
    if hasattr(default_storage, "bucket"):
        data = _s3_range(default_storage, name, offset, size)
        if len(data) != size:
            raise FileNotFoundError(f"{name} is shorter than the image it should hold")
        return data
    with default_storage.open(name, "rb") as handle:
        return _range(handle, name, offset, size)


def _range(handle, name: str, offset: int, size: int) -> bytes:
    """`size` bytes at `offset` of an open stored object; FileNotFoundError when it holds
    fewer."""
    handle.seek(offset)
    data = handle.read(size)
    if len(data) != size:
        raise FileNotFoundError(f"{name} is shorter than the image it should hold")
    return data


class StoredReader:
    """Reads many stored ranges, as `read_stored` does: on local storage each pack's path
    is resolved and the file opened once, not once per image (resolving a path costs
    about as much as decoding a 32 px image). Use as a context manager."""

    MAX_OPEN = 8

    def __init__(self):
        self.local = storage_is_local()
        self._handles: dict = {}

    def read(self, name: str, offset: int | None = None, size: int | None = None) -> bytes:
        if not self.local or offset is None or size is None:
            return read_stored(name, offset, size)
        handle = self._handles.get(name)
        if handle is None:
            from django.core.files.storage import default_storage

            if len(self._handles) >= self.MAX_OPEN:
                self.close()
            handle = self._handles[name] = open(default_storage.path(name), "rb")
        return _range(handle, name, offset, size)

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _s3_range(storage, name: str, offset: int, size: int) -> bytes:
    """One ranged GET (django-storages' S3File would fetch the whole pack)."""
    from botocore.exceptions import ClientError
    from storages.utils import clean_name

    key = storage._normalize_name(clean_name(name))
    try:
        answer = storage.bucket.Object(key).get(Range=f"bytes={offset}-{offset + size - 1}")
    except ClientError as exc:
        raise FileNotFoundError(name) from exc
    return answer["Body"].read()


def image_bytes(*, example, kind: str = "image") -> bytes:
    """The stored bytes of an example's image (or its thumbnail, falling back to the
    image); FileNotFoundError when the file is gone."""
    if kind == "thumbnail" and example.thumbnail:
        return read_stored(example.thumbnail.name, example.thumbnail_offset, example.thumbnail_size)
    return read_stored(example.image.name, example.image_offset, example.image_size)
