"""Row-level rules of the dump format (docs/import-format.md), with no database access.

A row is cleaned into a `CleanRow` or yields `RowError`s (line, column, reason). The
checks that need the database (labels already stored) or the images live in pipeline.py.
"""

import io
import math
import struct
import warnings
import zlib
from dataclasses import dataclass, field

from django.conf import settings
from PIL import Image

from mlstrat.datasets.images import ALLOWED_FORMATS, open_image
from mlstrat.datasets.models import Split

from .dumps import clean_member_path

REQUIRED_COLUMNS = ["example_id", "image", "label", "prediction", "split"]
KNOWN_COLUMNS = {*REQUIRED_COLUMNS, "source", "confidence"}
PROB_PREFIX = "prob_"
MAX_ERRORS_KEPT = 100
MAX_NAME = 200
MAX_SOURCE = 100
MAX_COLUMNS = 1000


@dataclass
class RowError:
    line: int
    column: str
    message: str

    def as_dict(self) -> dict:
        return {"line": self.line, "column": self.column, "message": self.message}


@dataclass
class CleanRow:
    line: int
    example_id: str
    image: str
    label: str
    prediction: str
    split: str
    source: str = ""
    confidence: float | None = None
    probabilities: dict | None = None
    metadata: dict = field(default_factory=dict)
    # Where its image was stored once checked: (pack, offset, size).
    stored: tuple | None = None


class Header:
    """What the dump's columns say: the probability classes and the metadata columns."""

    def __init__(self, columns: list[str]):
        self.columns = columns
        self.prob_columns = [c for c in columns if c.startswith(PROB_PREFIX)]
        self.prob_classes = [c[len(PROB_PREFIX) :] for c in self.prob_columns]
        self.meta_columns = [
            c for c in columns if c not in KNOWN_COLUMNS and not c.startswith(PROB_PREFIX)
        ]

    def missing(self) -> list[str]:
        return [c for c in REQUIRED_COLUMNS if c not in self.columns]


SPLITS = frozenset(Split.values)


def _any_nul(row: dict) -> bool:
    """Whether any value may hold a NUL: one scan of the joined text for a row of strings
    (a CSV row), the careful walk otherwise."""
    try:
        return "\x00" in "".join(row.values()) or "\x00" in "".join(row)
    except TypeError:  # not all strings (JSON Lines, Parquet)
        return True


def _has_nul(value) -> bool:
    """A NUL anywhere in the value, nested JSON included (PostgreSQL stores none)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def _text(value) -> str:
    if value is None:
        return ""
    return str(value).strip()


def _probability(value) -> tuple[float | None, str | None]:
    if type(value) is str:
        # The common case first (a CSV cell holding a number), without the checks below.
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if 0 <= number <= 1:  # False for NaN
                return number, None
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, None
    if isinstance(value, bool):
        return None, f"{value!r} is not a number"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None, f"{value!r} is not a number"
    if not math.isfinite(number) or not 0 <= number <= 1:
        return None, f"{value!r} is outside 0..1"
    return number, None


def clean_row(
    *, line: int, row: dict, header: Header, classes: set[str] | None
) -> tuple[CleanRow | None, list[RowError]]:
    """Check one row on its own. `classes`: the allowed labels, or None if any label goes."""
    errors = []

    def bad(column, message):
        errors.append(RowError(line, column, message))

    for column in REQUIRED_COLUMNS:
        if column not in row:
            bad(column, "is missing from this row")
    if _any_nul(row):
        for column, value in row.items():
            if _has_nul(value):
                bad(column, "contains a NUL character")
    if errors:
        return None, errors
    example_id = _text(row["example_id"])
    image = _text(row["image"])
    label = _text(row["label"])
    prediction = _text(row["prediction"])
    split = _text(row["split"])
    source = _text(row.get("source"))
    for column, value in (("example_id", example_id), ("label", label), ("prediction", prediction)):
        if not value:
            bad(column, "is empty")
        elif len(value) > MAX_NAME:
            bad(column, f"is longer than {MAX_NAME} characters")
    if not image:
        bad("image", "is empty")
    elif clean_member_path(image) is None:
        bad(
            "image",
            f"{image!r} must be a relative path inside the dump (no absolute path, no '..')",
        )
    if split not in SPLITS:
        bad("split", f"unknown split {split!r}: use train, train_dev, dev or test")
    if len(source) > MAX_SOURCE:
        bad("source", f"is longer than {MAX_SOURCE} characters")
    confidence, problem = _probability(row.get("confidence"))
    if problem:
        bad("confidence", problem)
    probabilities = {}
    for column, cls in zip(header.prob_columns, header.prob_classes, strict=True):
        value, problem = _probability(row.get(column))
        if problem:
            bad(column, problem)
        elif value is not None:
            probabilities[cls] = value
    if classes is not None:
        if label and label not in classes:
            bad("label", f"{label!r} is not one of the dataset's classes")
        if prediction and prediction not in classes:
            bad("prediction", f"{prediction!r} is not one of the dataset's classes")
    if errors:
        return None, errors
    metadata = {}
    for column in header.meta_columns:
        value = row.get(column)
        if isinstance(value, float) and not math.isfinite(value):
            value = str(value)  # JSON (and so the metadata column) holds no NaN
        if value is not None and value != "":
            metadata[column] = value
    return (
        CleanRow(
            line=line,
            example_id=example_id,
            image=image,
            label=label,
            prediction=prediction,
            split=split,
            source=source,
            confidence=confidence,
            probabilities=probabilities or None,
            metadata=metadata,
        ),
        [],
    )


def image_problem(data: bytes | None) -> str | None:
    """Why these bytes are not an acceptable image, or None if they are.

    Accepted means decoded, not only a header read: a PNG whose pixel stream is short, a
    JPEG cut off halfway, any image whose data does not decode is refused. The decode is
    bounded: at most MLSTRAT_IMAGE_MAX_PIXELS pixels (checked on the header, before any
    pixel is decompressed), and a PNG's pixel stream is inflated piece by piece into no
    more bytes than its header announces (`_png_pixels_complete`), never a whole bitmap."""
    if data is None:
        return "no such file in the dump"
    Image.MAX_IMAGE_PIXELS = settings.MLSTRAT_IMAGE_MAX_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with open_image(io.BytesIO(data)) as image:
                image.verify()
                image_format = image.format
            if not _decodes(data, image_format):
                raise ValueError("the pixel data does not decode")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            return (
                f"the image has more than {settings.MLSTRAT_IMAGE_MAX_PIXELS} pixels "
                "(possible decompression bomb)"
            )
        except Exception:
            allowed = ", ".join(ALLOWED_FORMATS)
            return f"not a readable image ({allowed} only)"
    return None


def _decodes(data: bytes, image_format: str) -> bool:
    if image_format == "PNG":
        complete = _png_pixels_complete(data)
        if complete is not None:
            return complete
    with open_image(io.BytesIO(data)) as image:
        if image_format == "JPEG":
            # Scaled DCT: every coefficient is still entropy-decoded (a truncated or
            # corrupt stream raises), for an eighth of the pixels.
            image.draft(image.mode, (max(1, image.width // 8), max(1, image.height // 8)))
        image.load()
    return True


_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_INFLATE_STEP = 1 << 18


def _png_pixels_complete(data: bytes) -> bool | None:
    """Whether a PNG's IDAT stream inflates to exactly the bytes its header announces,
    with a valid filter byte starting each row; None for an interlaced PNG (Pillow decodes
    those). Inflated in steps of 256 KiB, each dropped once its row filters are checked."""
    width, height, depth, color, _, _, interlace = struct.unpack_from(">IIBBBBB", data, 16)
    if interlace or color not in _PNG_CHANNELS:
        return None
    stride = 1 + (width * _PNG_CHANNELS[color] * depth + 7) // 8
    expected = stride * height
    inflater = zlib.decompressobj()
    produced = 0
    position = 8
    try:
        while position + 8 <= len(data):
            length, kind = struct.unpack_from(">I4s", data, position)
            body = data[position + 8 : position + 8 + length]
            position += 12 + length
            if kind == b"IEND":
                break
            if kind != b"IDAT":
                continue
            while body:
                out = inflater.decompress(body, _INFLATE_STEP)
                body = inflater.unconsumed_tail
                first = (-produced) % stride
                if out[first::stride] and max(out[first::stride]) > 4:
                    return False
                produced += len(out)
                if produced > expected:
                    return False
        while produced <= expected and not inflater.eof:
            out = inflater.decompress(b"", _INFLATE_STEP)
            if not out:
                break
            produced += len(out)
    except zlib.error:
        return False
    return produced == expected and inflater.eof
