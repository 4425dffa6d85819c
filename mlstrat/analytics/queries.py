"""SQL aggregation for the dashboards: counts only, never every example in Python.

Each function returns plain counts; analytics/figures.py turns them into figures.
"""

import csv
import io

from django.db import connection, transaction
from django.db.models import Count, F, Max, Q, Sum

from mlstrat.datasets.models import SPLIT_ORDER, Example, ModelRun, Prediction
from mlstrat.labels.models import LabelChange
from mlstrat.review.models import ErrorCategory, Review

from .figures import CONFIDENCE_BINS, CONFIDENCE_EDGES


def _in_confidence_bin(b: int) -> Q:
    """Bin b of figures.CONFIDENCE_EDGES, as scikit-learn's calibration curve bins: [0, 0.1]
    first, then (lo, hi]. Compared with the edges rather than computed by arithmetic, so
    0.3 lands where 0.3 should (0.3 × 10 is 3.0000000000000004 in floating point)."""
    at_most = Q(confidence__lte=CONFIDENCE_EDGES[b + 1])
    return at_most if b == 0 else at_most & Q(confidence__gt=CONFIDENCE_EDGES[b])


SPLITS = [str(split) for split in SPLIT_ORDER]
# A prediction whose example's label is unknown (multi-task dumps) is neither right nor
# wrong: it counts in no numerator and no denominator, only in the coverage.
KNOWN = Q(is_error__isnull=False)


def _confidence_aggregates() -> dict:
    """Per confidence bin, the predictions and the sum of their confidences.

    Within one group of prediction_counts every prediction is right or every one is wrong
    (true and predicted label are group keys), so these columns give the reliability
    diagram and the right/wrong confidence histograms with no second scan and no more
    rows. (Adding the bin as a group key instead made PostgreSQL misjudge the number of
    groups and give up the parallel plan: 2x slower at a million predictions.)"""
    aggregates = {}
    for b in range(CONFIDENCE_BINS):
        aggregates[f"confidence_n{b}"] = Count("id", filter=KNOWN & _in_confidence_bin(b))
        aggregates[f"confidence_sum{b}"] = Sum("confidence", filter=KNOWN & _in_confidence_bin(b))
    return aggregates


GROUP_FIELDS = ("task", "split", "example__source", "example__label", "predicted_label")
COUNT_FIELDS = (
    "examples",
    "unknown",
    "errors",
    "original_examples",
    "original_errors",
    "corrected",
)


def _prediction_count_query(*, run: ModelRun, example: Example | None = None):
    original_known = ~Q(example__original_label="")
    predictions = Prediction.objects.filter(run=run)
    if example is not None:
        predictions = predictions.filter(example=example)
    return (
        predictions.values(*GROUP_FIELDS)
        .annotate(
            examples=Count("id", filter=KNOWN),
            unknown=Count("id", filter=Q(is_error__isnull=True)),
            errors=Count("id", filter=Q(is_error=True)),
            original_examples=Count("id", filter=original_known),
            original_errors=Count(
                "id",
                filter=original_known & ~Q(predicted_label=F("example__original_label")),
            ),
            corrected=Count("id", filter=~Q(example__label=F("example__original_label"))),
            **_confidence_aggregates(),
        )
        .order_by()
    )


def prediction_counts(*, run: ModelRun, example: Example | None = None) -> list[dict]:
    """One row per (task, split, source, true label, predicted label) of a run, in one
    scan, every task at once: examples whose label is known, those unknown, errors under
    the label in force, examples and errors under the original labels, examples whose
    label was corrected, and per confidence bin the predictions (label known) and the sum
    of their confidences. With `example`, the same rows of that example's prediction only
    (what one label change moves: analytics/counts.py)."""
    query = _prediction_count_query(run=run, example=example)
    if example is not None:
        rows = list(query)  # one example's prediction: a label change's small read
    else:
        with transaction.atomic():
            _tune_for_one_big_aggregate()
            rows = list(query)
    bins = range(CONFIDENCE_BINS)
    return [
        {
            "task": row["task"],
            "split": row["split"],
            "source": row["example__source"],
            "label": row["example__label"],
            "predicted_label": row["predicted_label"],
            **{field: row[field] for field in COUNT_FIELDS},
            "confidence_bins": [row[f"confidence_n{b}"] for b in bins],
            "confidence_sums": [row[f"confidence_sum{b}"] or 0.0 for b in bins],
        }
        for row in rows
    ]


def copy_rows(*, table: str, columns: list[str], values) -> None:
    """Rows (tuples of text and numbers, in `columns` order) into `table` by one COPY.
    PostgreSQL only."""
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC).writerows(values)  # "" stays "", not NULL
    buffer.seek(0)
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(
            f'COPY "{table}" ({", ".join(columns)}) FROM STDIN WITH (FORMAT csv)', buffer
        )


def split_counts(*, run: ModelRun, split: str, task: str | None = None) -> dict:
    """Examples (label known) and errors of a run on one split, of one task or (None)
    of every task together (an index-only scan)."""
    predictions = Prediction.objects.filter(run=run, split=split)
    if task is not None:
        predictions = predictions.filter(task=task)
    return predictions.aggregate(
        examples=Count("id", filter=KNOWN), errors=Count("id", filter=Q(is_error=True))
    )


def image_counts(*, run: ModelRun, tasks: int, image: str | None = None) -> dict[str, dict]:
    """Per split, a multi-task run's images (an example_id, with one prediction per task
    in the run: the import writes every task of a row) with at least one task wrong, and
    those whose every label is unknown; with `image`, of that one image only (what one
    label change moves). Two short reads, never a scan of every prediction joined with
    every example:

    - the errors are a range of the (run, split, is_error) index; each one's image is
      looked up by the example's primary key (a hash join here scanned every example);
    - an image's labels are all unknown when its examples all have label "" (what makes
      a prediction's is_error NULL): a range of the (dataset, label) index, grouped by
      image, kept when the run has a prediction for it."""

    predictions, examples = Prediction._meta.db_table, Example._meta.db_table
    splits = ", ".join(["%s"] * len(SPLITS))
    one_wrong = one_unknown = ""
    wrong_params, unknown_params = [run.pk, *SPLITS, True], [run.dataset_id]
    if image is not None:
        one_wrong = (
            f'AND p.example_id IN (SELECT id FROM "{examples}" '
            "WHERE dataset_id = %s AND example_id = %s)"
        )
        wrong_params += [run.dataset_id, image]
        one_unknown = "AND example_id = %s"
        unknown_params.append(image)
    unknown_params += [tasks, run.pk]
    # Plain SQL both PostgreSQL and SQLite (the embedded mode) run.
    wrong_sql = f"""
        SELECT split, count(DISTINCT image) FROM (
            SELECT p.split,
                   (SELECT e.example_id FROM "{examples}" e WHERE e.id = p.example_id) AS image
            FROM "{predictions}" p
            WHERE p.run_id = %s AND p.split IN ({splits}) AND p.is_error = %s {one_wrong}
        ) AS wrong
        GROUP BY split
    """
    unknown_sql = f"""
        SELECT g.split, count(*) FROM (
            SELECT split, example_id, min(id) AS first_id FROM "{examples}"
            WHERE dataset_id = %s AND label = '' {one_unknown}
            GROUP BY split, example_id HAVING count(*) = %s
        ) AS g
        WHERE EXISTS (
            SELECT 1 FROM "{predictions}" p WHERE p.example_id = g.first_id AND p.run_id = %s
        )
        GROUP BY g.split
    """
    found: dict[str, dict] = {}
    with transaction.atomic():
        if image is None:
            _tune_for_one_big_aggregate()  # not for one image's small read
        with connection.cursor() as cursor:
            cursor.execute(wrong_sql, wrong_params)
            for split, wrong in cursor.fetchall():
                found.setdefault(split, {"wrong": 0, "all_unknown": 0})["wrong"] = wrong
            cursor.execute(unknown_sql, unknown_params)
            for split, unknown in cursor.fetchall():
                found.setdefault(split, {"wrong": 0, "all_unknown": 0})["all_unknown"] = unknown
    return found


def _tune_for_one_big_aggregate() -> None:
    """On PostgreSQL, let this transaction hash the join and the groups in memory (the
    default work_mem spills a million-row sort to disk) and skip JIT compilation, which
    costs more than it saves on one scan."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL work_mem = '256MB'")
            cursor.execute("SET LOCAL jit = off")


def prediction_fingerprint(*, run: ModelRun, last_change: int | None | bool = False) -> list:
    """Changes when anything prediction_counts reads may have changed: the run's
    predictions (written once, at import) or a label of its dataset (every label change
    is recorded as a LabelChange). Ticks and comments do not change it. `last_change`,
    when the caller has it: last_label_change of the run's dataset."""
    if last_change is False:
        last_change = last_label_change(dataset_id=run.dataset_id)
    imported = run.imported_at.isoformat() if run.imported_at else None
    return [run.pk, imported, last_change]


def last_label_change(*, dataset_id: int) -> int | None:
    return LabelChange.objects.filter(example__dataset_id=dataset_id).aggregate(last=Max("id"))[
        "last"
    ]


def dataset_categories(*, run: ModelRun) -> list[dict]:
    """Every category of the run's dataset, archived ones included (their tags count)."""
    return list(
        ErrorCategory.objects.filter(dataset_id=run.dataset_id)
        .order_by("order", "id")
        .values("id", "name", "color", "archived", "builtin")
    )


def run_reviews(*, run: ModelRun) -> list[Review]:
    return list(
        Review.objects.filter(run=run).prefetch_related("annotators").order_by("created_at", "id")
    )
