"""What the benchmarks share: a scratch PostgreSQL database and COPY of generated rows."""

import datetime
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


# ---------------------------------------------------------------- multi-task runs (#15)

# The share of a multi-task dump's labels that are unknown (label "", is_error NULL).
UNKNOWN_SHARE = 0.10
# Images generated and copied at a time (4 tasks: 400,000 examples and predictions).
CHUNK_IMAGES = 100_000


def copy_multitask(
    cursor, *, dataset_id, run_ids, n_images, tasks, splits, rng, image, probabilities=False
) -> int:
    """Copy a multi-task dump into `cursor` (a psycopg2 cursor, inside a transaction): per
    image, one example per task (classes "0" and "1", UNKNOWN_SHARE of the labels unknown)
    sharing the image's split, source and metadata, and one prediction per example in each
    run of `run_ids` (the same in every run). `splits`: (split, share of images, error
    rate); `image(rng, split)`: the image's (source, metadata JSON); with `probabilities`,
    the predictions carry {predicted: confidence, other: 1 - confidence}. Returns the
    number of examples."""
    cursor.execute(
        "CREATE TEMP TABLE bench_pred "
        "(example_id text, task text, predicted text, conf float, probs text)"
    )
    now = datetime.datetime.now(datetime.UTC).isoformat()
    examples, predictions, count, i = [], [], 0, 0
    for split, fraction, error_rate in splits:
        for _ in range(int(n_images * fraction)):
            source, metadata = image(rng, split)
            example_id = f"e{i:07d}"
            for task in tasks:
                label = "" if rng.random() < UNKNOWN_SHARE else rng.choice("01")
                truth = label or rng.choice("01")
                predicted = ("1" if truth == "0" else "0") if rng.random() < error_rate else truth
                conf = round(rng.random(), 3)
                other = "1" if predicted == "0" else "0"
                probs = f'{{"{predicted}": {conf}, "{other}": {round(1 - conf, 3)}}}'
                examples.append(
                    (
                        dataset_id,
                        example_id,
                        task,
                        label,
                        label,
                        split,
                        source,
                        metadata,
                        "x.png",  # never opened: the benches time pages, not images
                        "",
                        now,
                    )
                )
                predictions.append((example_id, task, predicted, conf, probs))
            i += 1
            if i % CHUNK_IMAGES == 0:
                count += _copy_multitask_chunk(cursor, examples, predictions)
                examples, predictions = [], []
    count += _copy_multitask_chunk(cursor, examples, predictions)
    for run_id in run_ids:
        cursor.execute(
            """INSERT INTO datasets_prediction
                (run_id, example_id, split, task, predicted_label, confidence, probabilities,
                 is_error)
            SELECT %s, e.id, e.split, e.task, p.predicted, p.conf,
                   CASE WHEN %s THEN p.probs::jsonb END,
                   CASE WHEN e.label = '' THEN NULL ELSE p.predicted <> e.label END
            FROM datasets_example e
            JOIN bench_pred p ON p.example_id = e.example_id AND p.task = e.task
            WHERE e.dataset_id = %s""",
            [run_id, probabilities, dataset_id],
        )
    cursor.execute("DROP TABLE bench_pred")
    return count


def _copy_multitask_chunk(cursor, examples, predictions) -> int:
    copy(cursor, "datasets_example", [*EXAMPLE_COLUMNS[:2], "task", *EXAMPLE_COLUMNS[2:]], examples)
    copy(cursor, "bench_pred", ["example_id", "task", "predicted", "conf", "probs"], predictions)
    return len(examples)
