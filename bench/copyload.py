"""What the benchmarks share: a scratch PostgreSQL database and COPY of generated rows."""

import io


def scratch_database(*, why: str = "COPY and realistic plans") -> None:
    """Refuse anything but a PostgreSQL database named like a scratch one (benches empty
    it), then migrate it."""
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit(f"Set DATABASE_URL to a PostgreSQL database ({why}).")
    if "bench" not in connection.settings_dict["NAME"]:
        raise SystemExit("Use a scratch database whose name contains 'bench': it is emptied.")
    call_command("migrate", verbosity=0)


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
