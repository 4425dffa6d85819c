"""Time the recompute of a run's dashboard figures on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mlstrat_bench \
        .venv/bin/python bench/analytics_bench.py [--examples 1000000] [--tags 10000] \
        [--tasks 4]

Loads one dataset with N examples and one run's predictions (COPY via psycopg2),
100 categories, a dev review and its tags, then times `snapshot_compute`: from scratch
(`full=True`: every prediction counted again, what an import does once), and the worker's
path after a label change (`full=False`: the counts the change kept in step, read back),
and after ticks. The label change itself (`correction_accept`) is timed too, since it
now moves the kept counts. The data is deleted afterwards unless --keep.

With --tasks N (#15): N binary tasks per image (one example and one prediction per image
and task, the image's split and source shared), 10% of the labels unknown (label "",
is_error NULL): N x examples predictions in one run, timed the same way.
"""

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlstrat.settings.local")

import django  # noqa: E402

django.setup()

from copyload import EXAMPLE_COLUMNS, UNKNOWN_SHARE, copy, copy_multitask  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from mlstrat.accounts.models import Project, User  # noqa: E402
from mlstrat.analytics.services import snapshot_compute  # noqa: E402
from mlstrat.datasets.models import Dataset, Example, ModelRun, Prediction, RunStatus  # noqa: E402
from mlstrat.review.models import ErrorCategory, Review, ReviewItem, Tag  # noqa: E402

SPLITS = [
    ("train", 0.60, 0.02),
    ("train_dev", 0.10, 0.05),
    ("dev", 0.15, 0.10),
    ("test", 0.15, 0.11),
]
CLASSES = [f"class{i:03d}" for i in range(100)]


def load(n_examples, n_tags, seed=7):
    rng = random.Random(seed)
    project = Project.objects.create(name="bench", slug=f"bench-{int(time.time())}")
    dataset = Dataset.objects.create(project=project, name="bench", class_names=CLASSES)
    run = ModelRun.objects.create(
        dataset=dataset, name="bench-run", status=RunStatus.READY, imported_at=timezone.now()
    )
    users = [User.objects.get_or_create(username=f"bench{i}")[0] for i in range(3)]
    now = timezone.now().isoformat()
    example_rows, prediction_rows = [], []
    i = 0
    for split, fraction, error_rate in SPLITS:
        for _ in range(int(n_examples * fraction)):
            label = rng.choice(CLASSES)
            source = (
                "general" if split in ("train", "train_dev") or rng.random() < 0.2 else "target"
            )
            original = rng.choice(CLASSES) if split == "dev" and rng.random() < 0.005 else label
            wrong = rng.random() < error_rate
            predicted = rng.choice(CLASSES) if wrong else label
            example_id = f"e{i:07d}"
            example_rows.append(
                (dataset.pk, example_id, label, original, split, source, "{}", "x.png", "", now)
            )
            prediction_rows.append((example_id, predicted, round(rng.random(), 3)))
            i += 1
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        copy(
            raw,
            Example._meta.db_table,
            EXAMPLE_COLUMNS,
            example_rows,
        )
        cursor.execute("CREATE TEMP TABLE bench_pred (example_id text, predicted text, conf float)")
        copy(raw, "bench_pred", ["example_id", "predicted", "conf"], prediction_rows)
        cursor.execute(
            f"""INSERT INTO {Prediction._meta.db_table}
                (run_id, example_id, split, predicted_label, confidence, is_error)
            SELECT %s, e.id, e.split, p.predicted, p.conf, p.predicted <> e.label
            FROM {Example._meta.db_table} e JOIN bench_pred p ON p.example_id = e.example_id
            WHERE e.dataset_id = %s""",
            [run.pk, dataset.pk],
        )
        cursor.execute("DROP TABLE bench_pred")
    categories = ErrorCategory.objects.bulk_create(
        [ErrorCategory(dataset=dataset, name=f"category {c:03d}", order=c) for c in range(100)]
    )
    review = Review.objects.create(
        run=run, name="dev sample", split="dev", seed=1, sample_size=None
    )
    errors = list(
        Prediction.objects.filter(run=run, split="dev", is_error=True)
        .order_by("id")
        .values_list("id", "example_id")[: max(1, n_tags // 2)]
    )
    ReviewItem.objects.bulk_create(
        [
            ReviewItem(review=review, prediction_id=p, example_id=e, position=k)
            for k, (p, e) in enumerate(errors)
        ],
        batch_size=5000,
    )
    tags = set()
    while len(tags) < n_tags:
        _, example_id = rng.choice(errors)
        tags.add((example_id, rng.choice(categories).pk, rng.choice(users).pk))
    with connection.cursor() as cursor:
        copy(
            cursor.cursor,
            Tag._meta.db_table,
            ["run_id", "example_id", "category_id", "user_id", "created_at"],
            [(run.pk, e, c, u, now) for e, c, u in tags],
        )
        cursor.execute("ANALYZE")
    return project, run


def load_multitask(n_images, n_tasks, seed=7):
    """A multi-task run: n_images x n_tasks examples and predictions, loaded by COPY."""
    rng = random.Random(seed)
    tasks = [f"task{t}" for t in range(n_tasks)]
    project = Project.objects.create(name="bench", slug=f"bench-mt-{int(time.time())}")
    dataset = Dataset.objects.create(
        project=project,
        name="bench",
        class_names=["0", "1"],
        tasks=tasks,
        task_class_names={t: ["0", "1"] for t in tasks},
    )
    run = ModelRun.objects.create(
        dataset=dataset, name="bench-run", status=RunStatus.READY, imported_at=timezone.now()
    )

    def image(rng, split):
        source = "general" if split in ("train", "train_dev") or rng.random() < 0.2 else "target"
        return source, "{}"

    with transaction.atomic(), connection.cursor() as cursor:
        copy_multitask(
            cursor.cursor,
            dataset_id=dataset.pk,
            run_ids=[run.pk],
            n_images=n_images,
            tasks=tasks,
            splits=SPLITS,
            rng=rng,
            image=image,
        )
        cursor.execute("ANALYZE")
    return project, run


def cleanup(*, project, run):
    """Delete in SQL, table by table (the ORM's cascade would load a million rows)."""
    with transaction.atomic(), connection.cursor() as cursor:
        for model, column, value in (
            (Tag, "run_id", run.pk),
            (ReviewItem, "review_id IN (SELECT id FROM review_review WHERE run_id", run.pk),
            (Prediction, "run_id", run.pk),
        ):
            closing = ")" if "IN (" in column else ""
            cursor.execute(
                f"DELETE FROM {model._meta.db_table} WHERE {column} = %s{closing}", [value]
            )
        cursor.execute(
            f"DELETE FROM {Example._meta.db_table} WHERE dataset_id = %s", [run.dataset_id]
        )
    project.delete()


def label_changes(run, repeat):
    """`repeat` label changes of dev examples through the label services (a lead
    accepting a proposal), each followed by the worker's recompute. Returns the seconds
    of each change and of each recompute after it."""
    from mlstrat.labels.services import correction_accept, correction_propose

    lead = User.objects.get_or_create(username="bench-lead")[0]
    wrong = (
        Prediction.objects.filter(run=run, split="dev", is_error=True)
        .select_related("example__dataset")
        .order_by("id")[:repeat]
    )
    changes, recomputes = [], []
    for prediction in wrong:
        started = time.perf_counter()
        proposal = correction_propose(
            example=prediction.example,
            proposed_label=prediction.predicted_label,
            proposed_by=lead,
        )
        correction_accept(correction=proposal, reviewer=lead, expected_version=proposal.version)
        changes.append(time.perf_counter() - started)
        started = time.perf_counter()
        snapshot_compute(run=run, full=False)
        recomputes.append(time.perf_counter() - started)
    return changes, recomputes


def stored_groups_floor(run, repeat) -> float:
    """The least a recompute that reads the kept counts can cost on this machine: the run's
    stored groups (analytics.CountRow) fetched by one SELECT through the bare psycopg2
    cursor, rows left as tuples. Median seconds."""
    from mlstrat.analytics.models import CountRow

    seconds = []
    with connection.cursor() as cursor:
        for _ in range(repeat):
            started = time.perf_counter()
            cursor.cursor.execute(
                f"SELECT * FROM {CountRow._meta.db_table} WHERE run_id = %s", [run.pk]
            )
            cursor.cursor.fetchall()
            seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def aggregate_without_confidence(run, repeat):
    """The one aggregate as the app runs it (with the confidence columns of the reliability
    diagram), against the same aggregate without them, interleaved in this process so
    that both see the same load: what the confidence columns cost (an ablation of our own
    query, not the machine's floor). Returns the two lists of seconds."""
    from django.db.models import Count, F, Q

    from mlstrat.analytics import queries

    bare = (
        Prediction.objects.filter(run=run)
        .values("split", "example__source", "example__label", "predicted_label")
        .annotate(
            examples=Count("id"),
            errors=Count("id", filter=Q(is_error=True)),
            original_errors=Count("id", filter=~Q(predicted_label=F("example__original_label"))),
            corrected=Count("id", filter=~Q(example__label=F("example__original_label"))),
        )
        .order_by()
    )
    with_confidence, without = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        queries.prediction_counts(run=run)
        with_confidence.append(time.perf_counter() - started)
        started = time.perf_counter()
        with transaction.atomic():
            queries._tune_for_one_big_aggregate()
            list(bare.all())  # a fresh queryset: no result cache
        without.append(time.perf_counter() - started)
    return with_confidence, without


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1_000_000)
    parser.add_argument("--tags", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--tasks", type=int, default=0, help="a multi-task run: this many tasks per image"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data for --reuse")
    parser.add_argument("--reuse", action="store_true", help="time the data of an earlier --keep")
    parser.add_argument(
        "--without-confidence",
        action="store_true",
        help="also time the aggregate with and without its confidence columns, interleaved",
    )
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL database (this measures COPY + SQL).")
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    run = ModelRun.objects.filter(name="bench-run").order_by("-id").first() if args.reuse else None
    if run is not None:
        project = run.dataset.project
        print(f"reusing {run.predictions.count():,} predictions kept by an earlier --keep")
    elif args.tasks:
        project, run = load_multitask(args.examples, args.tasks)
        print(
            f"loaded {args.examples:,} images x {args.tasks} tasks = "
            f"{args.examples * args.tasks:,} examples/predictions "
            f"({UNKNOWN_SHARE:.0%} labels unknown) in {time.perf_counter() - started:.1f} s"
        )
    else:
        project, run = load(args.examples, args.tags)
        print(
            f"loaded {args.examples:,} examples/predictions, 100 categories, "
            f"{args.tags:,} tags in {time.perf_counter() - started:.1f} s"
        )
    timings = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        snap = snapshot_compute(run=run)
        timings.append(time.perf_counter() - started)
    figures = snap.figures
    changes, after_change = label_changes(run, args.repeat)
    # What a worker does after a burst of ticks: only the reviews are counted again.
    incremental = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        snapshot_compute(run=run, full=False)
        incremental.append(time.perf_counter() - started)
    print(
        f"from scratch (full=True): min {min(timings):.3f} s, "
        f"median {statistics.median(timings):.3f} s, max {max(timings):.3f} s "
        f"over {args.repeat} runs"
    )
    print(
        f"a label change (correction_accept, counts moved): median "
        f"{statistics.median(changes):.3f} s, max {max(changes):.3f} s; "
        f"the worker's recompute after it (full=False): min {min(after_change):.3f} s, "
        f"median {statistics.median(after_change):.3f} s, max {max(after_change):.3f} s"
    )
    print(
        f"after ticks (full=False): min {min(incremental):.3f} s, "
        f"median {statistics.median(incremental):.3f} s over {args.repeat} runs"
    )
    floor = stored_groups_floor(run, args.repeat)
    print(
        f"floor: the stored groups read by one raw SELECT, no ORM, no figures: median "
        f"{floor:.4f} s; the worker's recompute after a label change / floor "
        f"{statistics.median(after_change) / floor:.1f}"
    )
    print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(
        f"  dev: {figures['splits']['dev']}; {len(figures['reviews'])} review(s) stored; "
        f"JSON {len(str(figures)) / 1e6:.1f} MB"
    )
    if args.tasks:
        from mlstrat.analytics import queries

        parts = {
            "prediction_counts": ({}, []),
            "image_counts": ({"tasks": args.tasks}, []),
        }
        for _ in range(args.repeat):
            for name, (kwargs, part) in parts.items():
                started = time.perf_counter()
                getattr(queries, name)(run=run, **kwargs)
                part.append(time.perf_counter() - started)
        print(
            "  of which: "
            + ", ".join(f"{n} median {statistics.median(t):.3f} s" for n, (_, t) in parts.items())
        )
        print(f"  images per split: {figures['images']}")
    if args.without_confidence:
        with_confidence, without = aggregate_without_confidence(run, args.repeat)
        a, b = statistics.median(with_confidence), statistics.median(without)
        print(
            f"the aggregate alone: median {a:.3f} s with the confidence columns, {b:.3f} s "
            f"without them (x{a / b:.2f}), {args.repeat} interleaved runs each"
        )
    if not args.keep:
        cleanup(project=project, run=run)


if __name__ == "__main__":
    main()
