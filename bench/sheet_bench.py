"""Time the error-analysis sheet and a tag toggle with a million examples in PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mlstrat_sheet_bench \
        .venv/bin/python bench/sheet_bench.py [--examples 1000000] [--tasks 4] [--repeat 30] \
        [--keep | --reuse]

Loads one dataset with N examples and one run's predictions with probabilities (COPY
via psycopg2), an earlier run's tags for suggestions, 12 categories and a few thousand
ticks, then times through Django's test client, as a browser would hit the server:
starting a review, the review's sheet page, the all-errors sheet with filters, sort
and the next keyset page, the rows API, a tag set/clear, and the live-updates poll.
Prints medians and p95 in milliseconds and the SQL queries per request. The database
must be a scratch one (its name contains "bench"): it is emptied afterwards unless --keep.

With --tasks N (#15): N binary tasks per image, one example and one prediction per image
and task in each run (bench/copyload.py's copy_multitask, as the analytics bench loads
them: the image's split and source shared, 10% of the labels unknown), so --examples
1000000 --tasks 4 is 4M examples and 2 x 4M predictions. The same pages are timed, plus
the review of one task and the run's sheet of one task (?task=); then each page is checked
to render its rows with every task's label.
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlstrat.settings.local")
# As in production, a tick only queues the dashboard recompute (coalesced) for a worker;
# without a broker it would run inside the request. The queue is purged at the end.
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/2")

import django  # noqa: E402

django.setup()

from copyload import (  # noqa: E402
    EXAMPLE_COLUMNS,
    UNKNOWN_SHARE,
    copy,
    copy_multitask,
    scratch_database,
)
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from mlstrat.accounts.models import Membership, Project, Role, User  # noqa: E402
from mlstrat.datasets.models import Dataset, ModelRun, RunStatus  # noqa: E402
from mlstrat.review.services import category_create, category_ensure_builtins, review_create  # noqa: E402

SPLITS = [
    ("train", 0.60, 0.03),
    ("train_dev", 0.10, 0.06),
    ("dev", 0.15, 0.12),
    ("test", 0.15, 0.12),
]
CLASSES = [str(d) for d in range(10)]
SOURCES = ["phone", "scanner", "web"]
DISTORTIONS = ["blurry", "noisy", "clean"]


def _setup(*, slug, **dataset_fields):
    """The project, its dataset, two runs (an earlier one for suggestions), a lead and two
    annotators, and 12 categories besides the built-in ones."""
    project = Project.objects.create(name="sheet bench", slug=f"{slug}-{int(time.time())}")
    dataset = Dataset.objects.create(project=project, name="bench", **dataset_fields)
    category_ensure_builtins(dataset=dataset)
    earlier = ModelRun.objects.create(
        dataset=dataset, name="earlier", status=RunStatus.READY, imported_at=timezone.now()
    )
    run = ModelRun.objects.create(
        dataset=dataset, name="bench-run", status=RunStatus.READY, imported_at=timezone.now()
    )
    users = []
    for i, role in enumerate([Role.LEAD, Role.ANNOTATOR, Role.ANNOTATOR]):
        user = User.objects.get_or_create(username=f"sheetbench{i}")[0]
        Membership.objects.get_or_create(project=project, user=user, defaults={"role": role})
        users.append(user)
    categories = [
        category_create(
            dataset=dataset, name=f"Category {k}", key=k, color="#4e79a7", created_by=users[0]
        )
        for k in "bdefghimnopq"
    ]
    return project, earlier, run, users, categories


def _copy_tags(raw, *, rng, runs, dev_errors, categories, users, now):
    """Ticks on dev errors: 3,000 in the earlier run (the suggestions), 5,000 in the timed
    one; then the planner's statistics of the loaded tables. Returns how many ticks."""
    tags = []
    for target, count in zip(runs, (3000, 5000), strict=True):
        for pk in rng.sample(dev_errors, min(count, len(dev_errors) // 2)):
            tags.append((target.pk, pk, rng.choice(categories).pk, rng.choice(users).pk, now))
    copy(
        raw,
        "review_tag",
        ["run_id", "example_id", "category_id", "user_id", "created_at"],
        set(tags),
    )
    raw.execute("ANALYZE datasets_example; ANALYZE datasets_prediction; ANALYZE review_tag")
    return len(set(tags))


def load(n_examples, seed=7):
    rng = random.Random(seed)
    project, earlier, run, users, categories = _setup(slug="sheet-bench", class_names=CLASSES)
    dataset = run.dataset
    now = timezone.now().isoformat()
    started = time.perf_counter()
    examples, predictions = [], []
    for split, fraction, error_rate in SPLITS:
        for _ in range(int(n_examples * fraction)):
            i = len(examples)
            label = rng.choice(CLASSES)
            wrong = rng.random() < error_rate
            predicted = rng.choice([c for c in CLASSES if c != label]) if wrong else label
            confidence = round(0.3 + 0.7 * rng.random(), 4)
            rest = (1 - confidence) / 9
            probabilities = {c: round(confidence if c == predicted else rest, 4) for c in CLASSES}
            metadata = {"distortion": rng.choice(DISTORTIONS)}
            examples.append(
                (
                    dataset.pk,
                    f"e{i:07d}",
                    label,
                    label,
                    split,
                    rng.choice(SOURCES),
                    json.dumps(metadata),
                    f"bench/{i}.png",
                    "",
                    now,
                )
            )
            predictions.append((split, predicted, confidence, json.dumps(probabilities), wrong))
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        copy(
            raw,
            "datasets_example",
            EXAMPLE_COLUMNS,
            examples,
        )
        raw.execute(
            "SELECT id FROM datasets_example WHERE dataset_id = %s ORDER BY id", [dataset.pk]
        )
        ids = [row[0] for row in raw.fetchall()]
        columns = [
            "run_id",
            "example_id",
            "split",
            "predicted_label",
            "confidence",
            "probabilities",
            "is_error",
        ]
        for target in (earlier, run):
            copy(
                raw,
                "datasets_prediction",
                columns,
                (
                    (target.pk, pk, split, predicted, confidence, probs, "t" if wrong else "f")
                    for pk, (split, predicted, confidence, probs, wrong) in zip(
                        ids, predictions, strict=True
                    )
                ),
            )
        dev_errors = [
            pk
            for pk, (split, *_rest, wrong) in zip(ids, predictions, strict=True)
            if split == "dev" and wrong
        ]
        tags = _copy_tags(
            raw,
            rng=rng,
            runs=(earlier, run),
            dev_errors=dev_errors,
            categories=categories,
            users=users,
            now=now,
        )
    print(
        f"loaded {len(examples):,} examples, {2 * len(examples):,} predictions "
        f"({len(dev_errors):,} dev errors), {tags:,} tags "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return project, run, users, categories, dev_errors


def load_multitask(n_images, n_tasks, seed=7):
    """The multi-task shape (#15): n_tasks binary tasks per image, one example and one
    prediction per image and task in each run (copyload.copy_multitask: the image's split
    and source shared, 10% of the labels unknown), otherwise as `load`."""
    rng = random.Random(seed)
    tasks = [f"task{t}" for t in range(n_tasks)]
    project, earlier, run, users, categories = _setup(
        slug="sheet-bench-mt",
        class_names=["0", "1"],
        tasks=tasks,
        task_class_names={t: ["0", "1"] for t in tasks},
    )
    now = timezone.now().isoformat()
    started = time.perf_counter()

    def image(rng, split):
        return rng.choice(SOURCES), json.dumps({"distortion": rng.choice(DISTORTIONS)})

    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.cursor
        count = copy_multitask(
            raw,
            dataset_id=run.dataset_id,
            run_ids=[earlier.pk, run.pk],
            n_images=n_images,
            tasks=tasks,
            splits=SPLITS,
            rng=rng,
            image=image,
            probabilities=True,
        )
        raw.execute(
            "SELECT example_id FROM datasets_prediction "
            "WHERE run_id = %s AND split = 'dev' AND is_error ORDER BY id",
            [run.pk],
        )
        dev_errors = [row[0] for row in raw.fetchall()]
        tags = _copy_tags(
            raw,
            rng=rng,
            runs=(earlier, run),
            dev_errors=dev_errors,
            categories=categories,
            users=users,
            now=now,
        )
    print(
        f"loaded {count // n_tasks:,} images x {n_tasks} tasks = {count:,} examples, "
        f"{2 * count:,} predictions ({UNKNOWN_SHARE:.0%} labels unknown; "
        f"{len(dev_errors):,} dev errors), {tags:,} tags in {time.perf_counter() - started:.1f} s"
    )
    return project, run, users, categories, dev_errors


def reuse(project):
    run = ModelRun.objects.get(dataset__project=project, name="bench-run")
    users = list(User.objects.filter(memberships__project=project).order_by("username"))
    categories = list(run.dataset.categories.filter(builtin="").order_by("order"))
    dev_errors = list(
        run.predictions.filter(split="dev", is_error=True).values_list("example_id", flat=True)
    )
    print(f"reusing {project.slug}: {len(dev_errors):,} dev errors")
    return project, run, users, categories, dev_errors


def vacuum_as_autovacuum_would():
    """What PostgreSQL's autovacuum does after a big insert (13+: by inserted rows): set
    the visibility map, without which the sheet's index-only counts read the table for
    every error. (Autovacuum is off on the development machine's server.)"""
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in ("datasets_example", "datasets_prediction", "review_tag"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    print(f"VACUUM (ANALYZE) of the loaded tables: {time.perf_counter() - started:.1f} s")


def measure(label, func, repeat):
    times, queries = [], []
    for _ in range(repeat):
        reset_queries()
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            func()
            times.append((time.perf_counter() - started) * 1000)
        queries.append(len(captured))
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    row = (label, statistics.median(times), p95, max(queries))
    print(f"{label:<52} median {row[1]:8.1f} ms   p95 {row[2]:8.1f} ms   {row[3]:3d} queries")
    return row


def ok(response):
    if response.status_code != 200:
        raise SystemExit(f"{response.status_code}: {response.content[:300]!r}")
    return response


def sheet_rows_of(response):
    """The rows a sheet page hands its script (the page's JSON config), or the API's."""
    if response["Content-Type"].startswith("application/json"):
        return response.json()["rows"], None
    html = response.content.decode()
    marker = '<script id="sheet-config" type="application/json">'
    start = html.index(marker) + len(marker)
    config = json.loads(html[start : html.index("</script>", start)])
    return config["rows"], config


def check_multitask(label, response, *, tasks, task=""):
    """A multi-task page renders its rows: each one task's error (of `task` if given) with
    every task's label and prediction for the image; a page of one task says which.
    Returns the rows and how many task labels on them are unknown."""
    rows, config = sheet_rows_of(response)
    problems = []
    if not rows:
        problems.append("no rows")
    if config is not None and config["tasks"] != tasks:
        problems.append(f"config tasks {config['tasks']}")
    if task and config is not None and f"{task}</span>" not in response.content.decode():
        problems.append(f"no badge for task {task}")
    unknown = 0
    for row in rows:
        mine = {t["task"]: t for t in row["tasks"]}
        if row["task"] not in tasks or (task and row["task"] != task):
            problems.append(f"row {row['example']} of task {row['task']!r}")
        elif [t["task"] for t in row["tasks"]] != tasks or any(
            "missing" in t for t in row["tasks"]
        ):
            problems.append(f"row {row['example']}: tasks {row['tasks']}")
        elif mine[row["task"]]["label"] != row["label"] or not mine[row["task"]]["is_error"]:
            problems.append(f"row {row['example']}: its own task {mine[row['task']]}")
        unknown += sum(t["label"] == "" for t in row["tasks"])
    if problems:
        raise SystemExit(f"{label}: {'; '.join(problems[:5])}")
    return len(rows), unknown


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=1_000_000, help="images (x --tasks)")
    parser.add_argument(
        "--tasks", type=int, default=0, help="a multi-task run: this many tasks per image (#15)"
    )
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="leave the data for --reuse")
    parser.add_argument("--reuse", action="store_true", help="time the data a --keep run left")
    args = parser.parse_args()
    scratch_database()
    existing = Project.objects.filter(slug__startswith="sheet-bench-").order_by("-pk").first()
    if args.reuse and existing:
        project, run, users, categories, dev_errors = reuse(existing)
    elif args.tasks:
        project, run, users, categories, dev_errors = load_multitask(args.examples, args.tasks)
    else:
        project, run, users, categories, dev_errors = load(args.examples)
    if not args.reuse:
        vacuum_as_autovacuum_would()
    tasks = run.dataset.tasks
    try:
        started = time.perf_counter()
        review = review_create(run=run, created_by=users[0], name="bench", sample_size=100, seed=1)
        print(
            f"review_create (100 of {len(dev_errors):,} dev errors): "
            f"{(time.perf_counter() - started) * 1000:.0f} ms"
        )
        task_review = None
        if tasks:
            started = time.perf_counter()
            task_review = review_create(
                run=run, created_by=users[0], name="bench", task=tasks[0], sample_size=100, seed=1
            )
            print(
                f"review_create of task {tasks[0]} (100 of its dev errors): "
                f"{(time.perf_counter() - started) * 1000:.0f} ms"
            )
        client = Client()
        client.force_login(users[1])
        base = f"/p/{project.slug}/runs/{run.pk}"
        sheet = f"{base}/reviews/{review.pk}/"
        all_errors = f"{base}/sheet/"
        first = ok(client.get(f"/api/v1/runs/{run.pk}/sheet/")).json()
        # Binary tasks have no class 3 or 5: the same filter on their classes.
        label, prediction = ("1", "0") if tasks else ("3", "5")
        pages = [
            ("review sheet page, 100 rows", sheet),
            (
                "review sheet, untagged only, sort -confidence",
                f"{sheet}?untagged=1&sort=-confidence",
            ),
            ("all dev errors sheet page, 100 rows", all_errors),
            (
                f"all dev errors, label={label}&prediction={prediction}",
                f"{all_errors}?label={label}&prediction={prediction}",
            ),
            (
                "all dev errors, source=phone, sort=confidence",
                f"{all_errors}?source=phone&sort=confidence",
            ),
            (
                f"all dev errors, category={categories[0].pk}",
                f"{all_errors}?category={categories[0].pk}",
            ),
            ("all dev errors, next page (keyset cursor)", f"{all_errors}?after={first['next']}"),
            ("rows API, review, 100 rows", f"/api/v1/reviews/{review.pk}/rows/"),
        ]
        if first["next"] is None:  # a small trial run: its errors fit on one page
            pages = [page for page in pages if "next page" not in page[0]]
        if tasks:
            # The multi-task pages (#15): one task's review, the run's sheet of one task.
            one = tasks[0]
            pages[1:1] = [
                (f"review of task {one}, sheet page, 100 rows", f"{base}/reviews/{task_review.pk}/")
            ]
            pages[4:4] = [(f"all dev errors, task={one}", f"{all_errors}?task={one}")]
        results = [
            measure(name, lambda url=url: ok(client.get(url)), args.repeat) for name, url in pages
        ]
        if tasks:
            # After the timing, so that the first timed request finds the caches as cold
            # as on a single-task run.
            for name, url in pages:
                task = one if name in (pages[1][0], pages[4][0]) else ""
                rows, unknown = check_multitask(name, ok(client.get(url)), tasks=tasks, task=task)
                print(
                    f"  {name}: {rows} rows, {unknown} of {rows * len(tasks)} task labels unknown"
                )
        example = review.items.order_by("position").first().example_id
        state = {"set": True}

        def toggle():
            body = {
                "action": "set" if state["set"] else "clear",
                "category": categories[1].pk,
                "example": example,
            }
            state["set"] = not state["set"]
            ok(client.post(f"/api/v1/runs/{run.pk}/tags/", body, content_type="application/json"))

        results.append(measure("tag set/clear (POST, one tick)", toggle, args.repeat * 2))
        since = 0
        results.append(
            measure(
                "live-updates poll (changes feed)",
                lambda: ok(
                    client.get(f"/api/v1/runs/{run.pk}/changes/?review={review.pk}&since={since}")
                ),
                args.repeat,
            )
        )
        print("\n| measurement | median ms | p95 ms | SQL queries |\n|---|---:|---:|---:|")
        for label, median, p95, queries in results:
            print(f"| {label} | {median:.1f} | {p95:.1f} | {queries} |")
    finally:
        if not args.keep:
            # TRUNCATE everything: deleting a million rows through the ORM's cascade takes
            # far longer than the benchmark (the database is a scratch one, checked above).
            call_command("flush", interactive=False, verbosity=0)
        from mlstrat.celery import app

        app.control.purge()


if __name__ == "__main__":
    main()
