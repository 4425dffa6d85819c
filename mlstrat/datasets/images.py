"""What image formats mlstrat accepts and how they are identified (by content, never name)."""

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


def image_bytes(*, example, kind: str = "image") -> bytes:
    """The stored bytes of an example's image (or its thumbnail, falling back to the
    image); FileNotFoundError when the file is gone."""
    from django.core.files.storage import default_storage

    field = example.thumbnail if kind == "thumbnail" and example.thumbnail else example.image
    with default_storage.open(field.name, "rb") as handle:
        return handle.read()
