"""Row-level rules of the dump format (docs/import-format.md), with no database access.

A row is cleaned into a `CleanRow` or yields `RowError`s (line, column, reason). The
checks that need the database (labels already stored) or the images live in pipeline.py.
"""

import io
import math
import re
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
# A multi-task dump: `label:<task>` and `prediction:<task>` per task, optionally
# `prob:<task>` (a binary task: the probability of "1") or `prob:<task>:<class>`.
LABEL_PREFIX = "label:"
PREDICTION_PREFIX = "prediction:"
TASK_PROB_PREFIX = "prob:"
_TASK_COLUMNS = (LABEL_PREFIX, PREDICTION_PREFIX, TASK_PROB_PREFIX)
MULTITASK_REQUIRED = ["example_id", "image", "split"]
# What a dump says when a task's label is not known.
UNKNOWN_LABELS = frozenset({"", "?"})
POSITIVE, NEGATIVE = "1", "0"
MAX_TASK = 100
MAX_ERRORS_KEPT = 100
MAX_NAME = 200
MAX_SOURCE = 100
MAX_COLUMNS = 1000
# How much of a value a row error quotes.
MAX_SHOWN = 60


@dataclass
class RowError:
    line: int
    column: str
    message: str

    def as_dict(self) -> dict:
        return {"line": self.line, "column": self.column, "message": self.message}


@dataclass
class TaskValue:
    """One task of a multi-task row: label "" when unknown."""

    task: str
    label: str
    prediction: str
    confidence: float | None = None
    probabilities: dict | None = None


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
    # Its image is its own thumbnail (datasets.images.is_own_thumbnail).
    own_thumbnail: bool = False
    # A multi-task row: one value per task, in the header's order (None: single-task).
    tasks: list[TaskValue] | None = None

    _single: list[TaskValue] | None = field(default=None, repr=False)

    @property
    def thumbnail(self) -> tuple:
        """(name, offset, size) of its thumbnail as written with it: its image when it is
        its own thumbnail, else none yet ("", None, None: the thumbnail pass makes it)."""
        return self.stored if self.own_thumbnail else ("", None, None)

    def units(self) -> list[TaskValue]:
        """What becomes one example each: every task, or the one label of a
        single-task row (task "")."""
        if self.tasks is not None:
            return self.tasks
        if self._single is None:
            self._single = [
                TaskValue("", self.label, self.prediction, self.confidence, self.probabilities)
            ]
        return self._single


class Header:
    """What the dump's columns say: the tasks (a multi-task dump), the probability
    columns and classes, and the metadata columns."""

    def __init__(self, columns: list[str]):
        self.columns = columns
        self.column_set = frozenset(columns)
        self.tasks = [c[len(LABEL_PREFIX) :] for c in columns if c.startswith(LABEL_PREFIX)]
        self.task_predictions = [
            c[len(PREDICTION_PREFIX) :] for c in columns if c.startswith(PREDICTION_PREFIX)
        ]
        # Per task: [(column, class)], class None for the one column of a binary task.
        self.task_prob_columns: dict[str, list[tuple[str, str | None]]] = {}
        self.stray_prob_columns: list[str] = []
        if self.is_multitask:
            for column in columns:
                if column.startswith(TASK_PROB_PREFIX):
                    task, cls = self._prob_target(column[len(TASK_PROB_PREFIX) :])
                    if task is None:
                        self.stray_prob_columns.append(column)
                    else:
                        self.task_prob_columns.setdefault(task, []).append((column, cls))
        self.prob_columns = [c for c in columns if c.startswith(PROB_PREFIX)]
        self.prob_classes = [c[len(PROB_PREFIX) :] for c in self.prob_columns]
        self.meta_columns = [c for c in columns if self.is_meta_column(c)]

    def is_meta_column(self, column: str) -> bool:
        """Whether a column (or a JSON Lines key) holds metadata: none the dump's format
        gives a meaning to."""
        return (
            column not in KNOWN_COLUMNS
            and not column.startswith(PROB_PREFIX)
            and not (self.is_multitask and column.startswith(_TASK_COLUMNS))
        )

    @property
    def is_multitask(self) -> bool:
        return bool(self.tasks or self.task_predictions)

    @property
    def has_probabilities(self) -> bool:
        return bool(self.prob_columns or self.task_prob_columns)

    def _prob_target(self, rest: str) -> tuple[str | None, str | None]:
        if rest in self.tasks:
            return rest, None
        task, _, cls = rest.partition(":")
        if task in self.tasks and cls:
            return task, cls
        return None, None

    def task_classes(self, task: str) -> set[str] | None:
        """The classes a task's probability columns name (a binary task: "0" and "1"),
        or None when it has none (any label may add a class)."""
        columns = self.task_prob_columns.get(task)
        if not columns:
            return None
        if any(cls is None for _, cls in columns):
            return {NEGATIVE, POSITIVE}
        return {cls for _, cls in columns}

    def twice(self) -> list[str]:
        """The columns the header names more than once (a row would keep one value)."""
        seen, twice = set(), []
        for column in self.columns:
            if column in seen and column not in twice:
                twice.append(column)
            seen.add(column)
        return twice

    def unstorable(self) -> list[tuple[str, str]]:
        """(column, what) for the column names PostgreSQL cannot store (metadata keys)."""
        return [(c, found) for c in self.columns if (found := unstorable(c))]

    def missing(self) -> list[str]:
        if not self.is_multitask:
            return [c for c in REQUIRED_COLUMNS if c not in self.columns]
        missing = [c for c in MULTITASK_REQUIRED if c not in self.columns]
        missing += [f"{PREDICTION_PREFIX}{t}" for t in self.tasks if t not in self.task_predictions]
        missing += [f"{LABEL_PREFIX}{t}" for t in self.task_predictions if t not in self.tasks]
        return missing

    def problems(self) -> list[tuple[str, str]]:
        """(column, reason) for what makes a multi-task header unusable (line 1)."""
        if not self.is_multitask:
            return []
        problems = []
        for column in ("label", "prediction"):
            if column in self.column_set:
                problems.append(
                    (column, f"a multi-task dump has '{column}:<task>' columns, not {column!r}")
                )
        if "confidence" in self.column_set:
            problems.append(
                (
                    "confidence",
                    "a multi-task dump has no 'confidence' column: a task's confidence is "
                    "its probability (prob:<task> or prob:<task>:<class>) of the predicted class",
                )
            )
        for task in self.tasks:
            if not task.strip() or task != task.strip():
                problems.append(
                    (f"{LABEL_PREFIX}{task}", "a task needs a name (no spaces around it)")
                )
            elif ":" in task:
                problems.append((f"{LABEL_PREFIX}{task}", f"the task name {shown(task)} holds ':'"))
            elif len(task) > MAX_TASK:
                problems.append(
                    (f"{LABEL_PREFIX}{task}", f"the task name is longer than {MAX_TASK} characters")
                )
        for column in self.prob_columns:
            problems.append(
                (column, "prob_<class> columns are for single-task dumps: use prob:<task>:<class>")
            )
        for column in self.stray_prob_columns:
            problems.append(
                (column, "names no task of the dump (prob:<task> or prob:<task>:<class>)")
            )
        for task, columns in self.task_prob_columns.items():
            if len(columns) > 1 and any(cls is None for _, cls in columns):
                problems.append(
                    (
                        f"{TASK_PROB_PREFIX}{task}",
                        "a task has either one prob:<task> column (binary) or "
                        "prob:<task>:<class> columns, not both",
                    )
                )
        return problems


SPLITS = frozenset(Split.values)


# Half of a UTF-16 surrogate pair: a JSON escape ("\ud800") makes one, no UTF-8 text holds it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def unstorable(text: str) -> str | None:
    """What in the text PostgreSQL cannot store, if anything."""
    if "\x00" in text:
        return "a NUL character"
    if not text.isascii() and _SURROGATE.search(text):
        return "half of a surrogate pair (not Unicode text)"
    return None


def _any_unstorable(row: dict) -> bool:
    """Whether any key or value may hold what PostgreSQL cannot store: one scan of the
    joined text for a row of strings (a CSV row), the careful walk otherwise."""
    try:
        return bool(unstorable("".join(row.values())) or unstorable("".join(row)))
    except TypeError:  # not all strings (JSON Lines, Parquet)
        return True


def _unstorable_in(value) -> str | None:
    """What PostgreSQL cannot store anywhere in the value, nested JSON included."""
    if isinstance(value, str):
        return unstorable(value)
    if isinstance(value, dict):
        for key, item in value.items():
            found = unstorable(str(key)) or _unstorable_in(item)
            if found:
                return found
    if isinstance(value, list):
        for item in value:
            found = _unstorable_in(item)
            if found:
                return found
    return None


TEXT_COLUMNS = frozenset({"example_id", "image", "label", "prediction", "split", "source"})


def _is_text_column(column: str, multitask: bool) -> bool:
    """Whether the column holds a name (which a JSON object or list is not)."""
    if multitask:
        return column in TEXT_COLUMNS or column.startswith((LABEL_PREFIX, PREDICTION_PREFIX))
    return column in TEXT_COLUMNS


def _text(value) -> str:
    if value is None:
        return ""
    return str(value).strip()


def example_id_of(row: dict) -> str | None:
    """The row's example id as its checks read it (`clean_row`), to look it up before
    they run; None when it is no text the database can be asked for (missing, an object
    or a list, a NUL, half a surrogate pair): the row's checks refuse it anyway."""
    value = row.get("example_id")
    if isinstance(value, dict | list):
        return None
    text = _text(value)
    return text if text and not unstorable(text) else None


def cut(text: str) -> str:
    """Text from the dump as a row error quotes it: cut short (a cell may hold 128 KiB)."""
    return text if len(text) <= MAX_SHOWN else f"{text[: MAX_SHOWN - 1]}…"


def shown(value) -> str:
    """A value as a row error quotes it: its repr, cut short."""
    return cut(repr(value))


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
        return None, f"{shown(value)} is not a number"
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float (JSON holds any)
        return None, f"{shown(value)} is outside 0..1"
    except (TypeError, ValueError):
        return None, f"{shown(value)} is not a number"
    if not math.isfinite(number) or not 0 <= number <= 1:
        return None, f"{shown(value)} is outside 0..1"
    return number, None


def _class_text(value) -> str:
    """A label or prediction as text: JSON true/false are "1"/"0", a whole float (a pandas
    column with NaN for unknown, a float class id) its integer, NaN and null empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return POSITIVE if value else NEGATIVE
    if isinstance(value, float):
        if not math.isfinite(value):
            return "" if math.isnan(value) else str(value)
        if value.is_integer():
            return str(int(value))
    return str(value).strip()


def _check_stray_columns(*, stray, header: Header, bad) -> None:
    """A row whose labels or probabilities the header (the first row's keys, in JSON
    Lines) has no column for: refused, rather than dropped without a word."""
    for column in stray:
        if not header.is_multitask:
            if column.startswith(PROB_PREFIX):
                bad(column, "names a class the dump's first row gives no probability for")
        elif column.startswith((LABEL_PREFIX, PREDICTION_PREFIX)):
            bad(column, "names a task the dump's first row does not have")
        elif column.startswith(TASK_PROB_PREFIX):
            task = column[len(TASK_PROB_PREFIX) :].partition(":")[0]
            if task not in header.tasks:
                bad(column, "names a task the dump's first row does not have")
                continue
            columns = [name for name, _ in header.task_prob_columns.get(task, ())]
            if columns:
                bad(
                    column,
                    f"is not one of task {task!r}'s probabilities in the dump's first row "
                    f"({', '.join(columns)})",
                )
            else:
                bad(column, f"the dump's first row gives task {task!r} no probabilities")


def _clean_tasks(
    *, row: dict, header: Header, task_classes: dict[str, set[str] | None], bad
) -> list[TaskValue]:
    """The tasks of a multi-task row: a label "" or "?" is unknown (stored as ""), a
    prediction is required; probabilities per task, the confidence is the predicted
    class's probability."""
    values = []
    for task in header.tasks:
        label_column = f"{LABEL_PREFIX}{task}"
        prediction_column = f"{PREDICTION_PREFIX}{task}"
        label = _class_text(row.get(label_column))
        if label in UNKNOWN_LABELS:
            label = ""
        prediction = _class_text(row.get(prediction_column))
        if prediction_column not in row:
            bad(prediction_column, "is missing from this row")
            continue
        if prediction in UNKNOWN_LABELS:
            bad(prediction_column, "is empty: every task needs a prediction")
        elif len(prediction) > MAX_NAME:
            bad(prediction_column, f"is longer than {MAX_NAME} characters")
        if len(label) > MAX_NAME:
            bad(label_column, f"is longer than {MAX_NAME} characters")
        probabilities = {}
        for column, cls in header.task_prob_columns.get(task, ()):
            value, problem = _probability(row.get(column))
            if problem:
                bad(column, problem)
            elif value is not None and cls is None:
                probabilities = {NEGATIVE: 1 - value, POSITIVE: value}
            elif value is not None:
                probabilities[cls] = value
        classes = task_classes.get(task)
        if classes is not None:
            named = ", ".join(sorted(classes)[:10])
            if label and label not in classes:
                bad(
                    label_column,
                    f"{shown(label)} is not one of task {task!r}'s classes ({named}); "
                    "an unknown label is left empty or written '?'",
                )
            if prediction and prediction not in classes:
                bad(
                    prediction_column,
                    f"{shown(prediction)} is not one of task {task!r}'s classes ({named})",
                )
        confidence = probabilities.get(prediction) if probabilities else None
        values.append(TaskValue(task, label, prediction, confidence, probabilities or None))
    return values


def clean_row(
    *,
    line: int,
    row: dict,
    header: Header,
    classes: set[str] | None,
    task_classes: dict[str, set[str] | None] | None = None,
) -> tuple[CleanRow | None, list[RowError]]:
    """Check one row on its own. `classes`: the allowed labels, or None if any label goes
    (a multi-task dump: `task_classes`, the same per task)."""
    errors = []

    def bad(column, message):
        errors.append(RowError(line, column, message))

    multitask = header.is_multitask
    for column in MULTITASK_REQUIRED if multitask else REQUIRED_COLUMNS:
        if column not in row:
            bad(column, "is missing from this row")
    if _any_unstorable(row):  # also true of any row not all text (JSON Lines, Parquet)
        for column, value in row.items():
            if found := unstorable(column):
                bad(shown(column), f"the column's name contains {found}")
            elif found := _unstorable_in(value):
                bad(column, f"contains {found}")
            elif isinstance(value, dict | list) and _is_text_column(column, multitask):
                kind = "an object" if isinstance(value, dict) else "a list"
                bad(column, f"must be text or a number, not {kind}")
    if errors:
        return None, errors
    example_id = _text(row["example_id"])
    image = _text(row["image"])
    split = _text(row["split"])
    source = _text(row.get("source"))
    if multitask:
        label = prediction = ""
        named = [("example_id", example_id)]
    else:
        label = _class_text(row["label"])
        prediction = _class_text(row["prediction"])
        named = [("example_id", example_id), ("label", label), ("prediction", prediction)]
    for column, value in named:
        if not value:
            bad(column, "is empty")
        elif len(value) > MAX_NAME:
            bad(column, f"is longer than {MAX_NAME} characters")
    if not image:
        bad("image", "is empty")
    elif clean_member_path(image) is None:
        bad(
            "image",
            f"{shown(image)} must be a relative path inside the dump (no absolute path, no '..')",
        )
    if split not in SPLITS:
        bad("split", f"unknown split {shown(split)}: use train, train_dev, dev or test")
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
    if classes is not None and not multitask:
        if label and label not in classes:
            bad("label", f"{shown(label)} is not one of the dataset's classes")
        if prediction and prediction not in classes:
            bad("prediction", f"{shown(prediction)} is not one of the dataset's classes")
    stray = row.keys() - header.column_set  # JSON Lines, Parquet maps: keys vary by row
    if stray:
        _check_stray_columns(stray=stray, header=header, bad=bad)
    tasks = None
    if multitask:
        tasks = _clean_tasks(row=row, header=header, task_classes=task_classes or {}, bad=bad)
    if errors:
        return None, errors
    metadata = {}
    # A metadata key first seen after the first row is kept like the others.
    meta_columns = header.meta_columns
    if stray:
        meta_columns = meta_columns + sorted(c for c in stray if header.is_meta_column(c))
    for column in meta_columns:
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
            tasks=tasks,
        ),
        [],
    )


def image_check(data: bytes | None) -> tuple[str | None, str | None, tuple[int, int] | None]:
    """(problem, format, size): why these bytes are not an acceptable image (None if they
    are), and the accepted image's Pillow format and size.

    Accepted means decoded, not only a header read: a PNG whose pixel stream is short, a
    JPEG cut off halfway, any image whose data does not decode is refused. The decode is
    bounded: at most MLSTRAT_IMAGE_MAX_PIXELS pixels (checked on the header, before any
    pixel is decompressed), and a PNG's pixel stream is inflated piece by piece into no
    more bytes than its header announces (`_png_pixels_complete`), never a whole bitmap."""
    if data is None:
        return "no such file in the dump", None, None
    Image.MAX_IMAGE_PIXELS = settings.MLSTRAT_IMAGE_MAX_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with open_image(io.BytesIO(data)) as image:
                image.verify()
                image_format, size = image.format, image.size
            if not _decodes(data, image_format):
                raise ValueError("the pixel data does not decode")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            return (
                f"the image has more than {settings.MLSTRAT_IMAGE_MAX_PIXELS} pixels "
                "(possible decompression bomb)",
                None,
                None,
            )
        except Exception:
            allowed = ", ".join(ALLOWED_FORMATS)
            return f"not a readable image ({allowed} only)", None, None
    return None, image_format, size


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
