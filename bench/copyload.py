"""Bulk loading for the benchmarks: PostgreSQL COPY of generated rows (shared by the benches)."""

import io

# Columns of datasets_example that a bench fills (the id comes from its sequence).
EXAMPLE_COLUMNS = [
    "dataset_id",
    "example_id",
    "label",
    "original_label",
    "split",
    "source",
    "metadata",
    "image",
    "thumbnail",
    "created_at",
]


def copy(cursor, table, columns, rows):
    """COPY `rows` (tuples in `columns` order, tab-free values) into `table`."""
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(str(v) for v in row) + "\n")
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)
