"""Time the error-analysis sheet and a tag toggle with a million examples in PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mlstrat_sheet_bench \
        .venv/bin/python bench/sheet_bench.py [--examples 1000000] [--repeat 30] [--keep]

Loads one dataset with N examples and one run's predictions with probabilities (COPY
via psycopg2), an earlier run's tags for suggestions, 12 categories and a few thousand
ticks, then times through Django's test client, as a browser would hit the server:
starting a review, the review's sheet page, the all-errors sheet with filters, sort
and the next keyset page, the rows API, a tag set/clear, and the live-updates poll.
Prints medians and p95 in milliseconds and the SQL queries per request. The database
must be a scratch one (its name contains "bench"): it is emptied afterwards unless --keep.
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

from copyload import EXAMPLE_COLUMNS, copy, scratch_database  # noqa: E402
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


def load(n_examples, seed=7):
    rng = random.Random(seed)
    stamp = int(time.time())
    project = Project.objects.create(name="sheet bench", slug=f"sheet-bench-{stamp}")
    dataset = Dataset.objects.create(project=project, name="bench", class_names=CLASSES)
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
            metadata = {"distortion": rng.choice(["blurry", "noisy", "clean"])}
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
        tags = []
        for target, count in ((earlier, 3000), (run, 5000)):
            for pk in rng.sample(dev_errors, min(count, len(dev_errors) // 2)):
                tags.append((target.pk, pk, rng.choice(categories).pk, rng.choice(users).pk, now))
        copy(
            raw,
            "review_tag",
            ["run_id", "example_id", "category_id", "user_id", "created_at"],
            set(tags),
        )
        raw.execute("ANALYZE datasets_example; ANALYZE datasets_prediction; ANALYZE review_tag")
    print(
        f"loaded {len(examples):,} examples, {2 * len(examples):,} predictions "
        f"({len(dev_errors):,} dev errors), {len(set(tags)):,} tags "
        f"in {time.perf_counter() - started:.1f} s"
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--keep", action="store_true", help="leave the data for --reuse")
    parser.add_argument("--reuse", action="store_true", help="time the data a --keep run left")
    args = parser.parse_args()
    scratch_database()
    existing = Project.objects.filter(slug__startswith="sheet-bench-").order_by("-pk").first()
    if args.reuse and existing:
        project, run, users, categories, dev_errors = reuse(existing)
    else:
        project, run, users, categories, dev_errors = load(args.examples)
    try:
        started = time.perf_counter()
        review = review_create(run=run, created_by=users[0], name="bench", sample_size=100, seed=1)
        print(
            f"review_create (100 of {len(dev_errors):,} dev errors): "
            f"{(time.perf_counter() - started) * 1000:.0f} ms"
        )
        client = Client()
        client.force_login(users[1])
        base = f"/p/{project.slug}/runs/{run.pk}"
        sheet = f"{base}/reviews/{review.pk}/"
        all_errors = f"{base}/sheet/"
        first = ok(client.get(f"/api/v1/runs/{run.pk}/sheet/")).json()
        results = [
            measure("review sheet page, 100 rows", lambda: ok(client.get(sheet)), args.repeat),
            measure(
                "review sheet, untagged only, sort -confidence",
                lambda: ok(client.get(f"{sheet}?untagged=1&sort=-confidence")),
                args.repeat,
            ),
            measure(
                "all dev errors sheet page, 100 rows",
                lambda: ok(client.get(all_errors)),
                args.repeat,
            ),
            measure(
                "all dev errors, label=3&prediction=5",
                lambda: ok(client.get(f"{all_errors}?label=3&prediction=5")),
                args.repeat,
            ),
            measure(
                "all dev errors, source=phone, sort=confidence",
                lambda: ok(client.get(f"{all_errors}?source=phone&sort=confidence")),
                args.repeat,
            ),
            measure(
                f"all dev errors, category={categories[0].pk}",
                lambda: ok(client.get(f"{all_errors}?category={categories[0].pk}")),
                args.repeat,
            ),
            measure(
                "all dev errors, next page (keyset cursor)",
                lambda: ok(client.get(f"{all_errors}?after={first['next']}")),
                args.repeat,
            ),
            measure(
                "rows API, review, 100 rows",
                lambda: ok(client.get(f"/api/v1/reviews/{review.pk}/rows/")),
                args.repeat,
            ),
        ]
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
