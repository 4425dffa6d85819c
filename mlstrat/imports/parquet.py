"""Reading a `predictions.parquet` table (what pandas, polars and Hugging Face datasets
write) as rows, like CSV and JSON Lines: the same row checks and row-level errors apply.

A row's "line" is its position counting a header as line 1, as in a CSV (the first row is
line 2). Columns are read by batches of rows; a `probabilities` column (a struct, or a map
of class to probability) is spread into `prob_<class>` values, as in JSON Lines.

Bounded: the file is spooled to a local temporary file as it streams (counted against
MLSTRAT_IMPORT_MAX_EXPANDED_BYTES), and before a row is read every row group must declare
at most PARQUET_MAX_ROW_GROUP_BYTES uncompressed and the whole file at most
MLSTRAT_IMPORT_MAX_EXPANDED_BYTES. Those declared sizes bind the reader: Arrow allocates
what a page declares and a page that inflates to more is an error, not more memory.
"""

import datetime
import decimal
import math
import shutil
import tempfile
from collections.abc import Iterator

from django.conf import settings

from .multitask import is_multitask_row, spread_tasks

PARQUET_MAX_ROW_GROUP_BYTES = 256 * 1024 * 1024
BATCH_ROWS = 4096
TASK_COLUMNS = ("label:", "prediction:", "prob:")


def parquet_rows(stream) -> Iterator[tuple[int, dict | None, str | None]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .dumps import DumpError, HeaderRow

    with tempfile.TemporaryFile(suffix=".parquet") as spooled:
        shutil.copyfileobj(stream, spooled, 1 << 20)
        spooled.seek(0)
        try:
            table = pq.ParquetFile(spooled)
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise DumpError(f"The table is not a readable Parquet file ({exc}).") from exc
        _check_declared_sizes(table, DumpError)
        columns = list(table.schema_arrow.names)
        header = [c for c in columns if c != "probabilities"]
        by_row = False
        if "labels" in columns or "predictions" in columns:
            # Multi-task: the first row's tasks, spread into columns, stand for the header.
            by_row = True
        elif "probabilities" in columns:
            kind = table.schema_arrow.field("probabilities").type
            if pa.types.is_struct(kind):
                header += [f"prob_{field.name}" for field in kind]
            else:
                # A map: as in JSON Lines, the first row's classes stand for the header.
                by_row = True
        if not by_row:
            yield 1, HeaderRow(header), None
        line = 1
        try:
            for batch in table.iter_batches(batch_size=BATCH_ROWS):
                for values in _batch_rows(batch):
                    line += 1
                    if values is None:
                        yield line, None, "holds a date or time outside years 1 to 9999"
                        continue
                    row, problem = _row(values)
                    if by_row and row is not None:
                        by_row = False
                        yield 1, HeaderRow(row), None
                    yield line, row, problem
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise DumpError(f"The Parquet table is broken after line {line} ({exc}).") from exc


def _batch_rows(batch) -> Iterator[dict | None]:
    """The batch's rows as dicts; None for a row holding a date or time Python cannot
    (Arrow's timestamps reach far beyond year 9999)."""
    try:
        yield from batch.to_pylist()
    except OverflowError:
        for index in range(batch.num_rows):
            try:
                [values] = batch.slice(index, 1).to_pylist()
            except OverflowError:
                values = None
            yield values


def _check_declared_sizes(table, error) -> None:
    metadata = table.metadata
    total = 0
    for index in range(metadata.num_row_groups):
        size = metadata.row_group(index).total_byte_size
        total += size
        if size > PARQUET_MAX_ROW_GROUP_BYTES:
            raise error(
                f"A row group of the Parquet table holds {size} bytes once read; "
                f"at most {PARQUET_MAX_ROW_GROUP_BYTES} are accepted (write smaller row groups)."
            )
    if total > settings.MLSTRAT_IMPORT_MAX_EXPANDED_BYTES:
        raise error(
            "The Parquet table expands to more than "
            f"{settings.MLSTRAT_IMPORT_MAX_EXPANDED_BYTES} bytes."
        )


def _row(values: dict) -> tuple[dict | None, str | None]:
    if is_multitask_row(values):
        row = {key: _plain(value) for key, value in values.items()}
        problem = spread_tasks(row)
        return (None, problem) if problem else (row, None)
    row = {key: _plain(value) for key, value in values.items() if key != "probabilities"}
    for key, value in values.items():
        # A pandas column of a task's labels holds NaN where the label is unknown.
        if isinstance(value, float) and value != value and key.startswith(TASK_COLUMNS):
            row[key] = None
    probabilities = values.get("probabilities")
    if isinstance(probabilities, list):  # a map column: [(class, probability), ...]
        probabilities = dict(probabilities)
    if isinstance(probabilities, dict):
        for cls, value in probabilities.items():
            row[f"prob_{cls}"] = value
    elif probabilities is not None:
        return None, "'probabilities' must be an object of class to probability"
    return row, None


def _plain(value):
    """A value as JSON can hold it (metadata is stored as JSON): dates as ISO text,
    durations as seconds, decimals as numbers, non-finite numbers and bytes as text."""
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
