"""Import benchmark: N generated rows through the real pipeline on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mlstrat_bench \\
        .venv/bin/python bench/import_bench.py [--rows 100000] [--thumbnails 5000]

Prints rows/s of the database part of the import and its ratio to a raw COPY of the
same rows into a bare table (same run, same server), thumbnails/s of the thumbnail
service and its ratio to bare Pillow decode+resize+encode of the same files, the
stage timings and the peak memory (ru_maxrss) of the process.

The dump is a table plus an images folder (the "images already on the server" door),
written under bench/out/; rows reuse a handful of generated PNGs. With --zip it is a
.zip holding the table and one image member per row (what an upload brings), read
through the same server-path door.
"""

import argparse
import csv
import io
import os
import random
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "import"
sys.path.insert(0, str(ROOT))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--thumbnails", type=int, default=3000, help="how many thumbnails to time (0: all)"
    )
    parser.add_argument("--images", type=int, default=16, help="distinct PNG files reused")
    parser.add_argument(
        "--image-width", type=int, default=320, help="width of the generated PNGs (4:3)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database rows")
    parser.add_argument(
        "--zip",
        action="store_true",
        help="import a .zip holding the table and one image member per row (the upload door)",
    )
    return parser.parse_args()


def generate(*, rows: int, images: int, width: int = 320, one_per_row: bool = False) -> Path:
    """Write predictions.csv and a few PNGs (streamed: no row kept in memory). With
    `one_per_row`, each row names its own image (images/b<row>.png), for a zip dump."""
    from PIL import Image, ImageDraw

    shutil.rmtree(OUT, ignore_errors=True)
    (OUT / "images").mkdir(parents=True)
    rng = random.Random(7)
    for i in range(images):
        height = width * 3 // 4
        image = Image.new("RGB", (width, height), (rng.randrange(256), 40, 90))
        draw = ImageDraw.Draw(image)
        for _ in range(40):
            x, y = rng.randrange(width), rng.randrange(height)
            draw.ellipse((x, y, x + 30, y + 20), fill=(rng.randrange(256), 200, 30))
        image.save(OUT / "images" / f"img{i:02d}.png")
    classes = [str(c) for c in range(10)]
    splits = ["train"] * 6 + ["train_dev", "dev", "dev", "test"]
    with (OUT / "predictions.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["example_id", "image", "label", "prediction", "split", "source", "confidence"]
            + [f"prob_{c}" for c in classes]
            + ["camera"]
        )
        for n in range(rows):
            label = rng.choice(classes)
            prediction = label if rng.random() < 0.9 else rng.choice(classes)
            probs = [0.01] * 10
            probs[int(prediction)] = 0.91
            writer.writerow(
                [f"b{n:07d}", image_path(n, images, one_per_row), label, prediction]
                + [rng.choice(splits), rng.choice(["web", "app"]), "0.91"]
                + probs
                + [rng.choice(["pixel", "iphone"])]
            )
    return OUT / "predictions.csv"


def image_path(n: int, images: int, one_per_row: bool) -> str:
    return f"images/b{n:07d}.png" if one_per_row else f"images/img{n % images:02d}.png"


def write_zip(*, rows: int, images: int) -> Path:
    """dump.zip: the table and one stored member per row (the bytes of one of the
    generated PNGs). Run in a child process: zipfile's writer keeps an entry per member,
    which would otherwise count in this process's peak memory."""
    import zipfile

    pngs = [(OUT / "images" / f"img{i:02d}.png").read_bytes() for i in range(images)]
    path = OUT / "dump.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.write(OUT / "predictions.csv", "predictions.csv")
        for n in range(rows):
            archive.writestr(image_path(n, images, True), pngs[n % images])
    return path


def raw_copy_rows_per_second(table: Path) -> float:
    """COPY the same rows (parsed, formatted in batches) into a bare unindexed table."""
    from django.db import connection

    from mlstrat.imports.pipeline import BATCH_ROWS, _copy_value

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_bare_rows")
        cursor.execute(
            "CREATE TABLE bench_bare_rows (example_id text, image text, label text, "
            "prediction text, split text, source text, confidence float8, probabilities jsonb,"
            " metadata jsonb)"
        )
    import json

    seconds = 0.0
    count = 0
    with table.open(newline="") as handle:
        reader = csv.DictReader(handle)
        batch = []
        for row in reader:
            batch.append(row)
            if len(batch) >= BATCH_ROWS:
                seconds += _copy_batch(batch, json, _copy_value)
                count += len(batch)
                batch = []
        if batch:
            seconds += _copy_batch(batch, json, _copy_value)
            count += len(batch)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_bare_rows")
    return count / seconds


def _copy_batch(batch, json, copy_value) -> float:
    from django.db import connection

    started = time.perf_counter()
    buffer = io.StringIO()
    for row in batch:
        probs = {k[5:]: float(v) for k, v in row.items() if k.startswith("prob_")}
        record = (
            row["example_id"],
            row["image"],
            row["label"],
            row["prediction"],
            row["split"],
            row["source"],
            float(row["confidence"]),
            json.dumps(probs),
            json.dumps({"camera": row["camera"]}),
        )
        buffer.write("\t".join(copy_value(v) for v in record) + "\n")
    buffer.seek(0)
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert("COPY bench_bare_rows FROM STDIN", buffer, size=1 << 20)
    return time.perf_counter() - started


def bare_pillow_seconds(names: list[str]) -> float:
    from django.conf import settings
    from PIL import Image

    from mlstrat.imports.services import THUMBNAIL_SIDE

    started = time.perf_counter()
    for name in names:
        with open(Path(settings.MEDIA_ROOT) / name, "rb") as handle, Image.open(handle) as image:
            image.draft("RGB", (THUMBNAIL_SIDE, THUMBNAIL_SIDE))
            image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
            out = io.BytesIO()
            image.save(out, "PNG", compress_level=1)
    return time.perf_counter() - started


def main():
    sys.stdout.reconfigure(line_buffering=True)
    args = parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (it is migrated and written to).")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlstrat.settings.local")
    os.environ["MEDIA_ROOT"] = str(OUT / "media")
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    from mlstrat.accounts.models import Project, User
    from mlstrat.accounts.services import project_create
    from mlstrat.datasets.models import Example
    from mlstrat.imports import services, tasks

    # Thumbnails are timed separately below, in chunks as a worker makes them.
    tasks.thumbnails_make_task.delay = lambda *args, **kwargs: None
    call_command("migrate", verbosity=0)
    print(f"Generating {args.rows} rows ...", flush=True)
    table = generate(
        rows=args.rows, images=args.images, width=args.image_width, one_per_row=args.zip
    )
    dump = table
    if args.zip:
        import multiprocessing

        child = multiprocessing.get_context("fork").Process(
            target=write_zip, kwargs={"rows": args.rows, "images": args.images}
        )
        child.start()
        child.join()
        dump = OUT / "dump.zip"
        print(f"dump.zip: {dump.stat().st_size / 1e6:,.0f} MB, {args.rows + 1} members")
    Project.objects.filter(slug__startswith="import-bench").delete()
    user, _ = User.objects.get_or_create(username="import-bench")
    project = project_create(name="import bench", owner=user)

    job = services.import_job_create(
        project=project,
        user=user,
        dataset_name="bench",
        run_name="bench",
        server_path=str(dump),
        allow_any_path=True,
        enqueue=False,
    )
    raw_before = raw_copy_rows_per_second(table)
    started = time.perf_counter()
    job = services.import_job_run(job_id=job.pk, inline_thumbnails=False)
    total = time.perf_counter() - started
    assert job.status != "failed", job.message
    peak_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    timings = job.timings
    db_rate = args.rows / timings["db_s"]
    # The machine may be shared: raw COPY runs before and after, thumbnails and bare
    # Pillow alternate chunk by chunk, so both sides see the same load.
    raw_rate = (raw_before + raw_copy_rows_per_second(table)) / 2

    ids = list(
        Example.objects.filter(dataset__project=project).order_by("pk").values_list("pk", flat=True)
    )
    if args.thumbnails:
        ids = ids[: args.thumbnails]
    names = dict(Example.objects.filter(pk__in=ids).values_list("pk", "image"))
    bare_s = thumbs_s = 0.0
    for i in range(0, len(ids), services.THUMBNAIL_CHUNK):
        chunk = ids[i : i + services.THUMBNAIL_CHUNK]
        if i // services.THUMBNAIL_CHUNK % 2:
            bare_s += bare_pillow_seconds([names[pk] for pk in chunk])
        started = time.perf_counter()
        services.thumbnails_make(job_id=job.pk, example_ids=chunk)
        thumbs_s += time.perf_counter() - started
        if not i // services.THUMBNAIL_CHUNK % 2:
            bare_s += bare_pillow_seconds([names[pk] for pk in chunk])
    thumb_rate = len(ids) / thumbs_s
    bare_rate = len(ids) / bare_s
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"rows                     {args.rows}")
    print(f"import wall time         {total:.1f} s (job {job.status})")
    print(
        f"  validate {timings['validate_s']:.1f} s · write {timings['write_s']:.1f} s "
        f"(image files {timings['images_s']:.1f} s, database {timings['db_s']:.1f} s)"
    )
    parts = ", ".join(
        f"{name[:-2]} {timings[name]:.1f} s"
        for name in ("lookup_s", "examples_s", "example_ids_s", "predictions_s")
        if name in timings
    )
    print(f"database part            {db_rate:,.0f} rows/s ({parts})")
    print(f"raw COPY, bare table     {raw_rate:,.0f} rows/s")
    print(f"ratio to raw COPY        {db_rate / raw_rate:.2f}  (target >= 0.5)")
    print(f"thumbnails ({len(ids)} files) {thumb_rate:,.0f} /s per worker")
    print(f"bare Pillow              {bare_rate:,.0f} /s")
    print(f"ratio to bare Pillow     {thumb_rate / bare_rate:.2f}  (target >= 0.8)")
    print(f"peak memory (import)     {peak_import:.0f} MB")
    print(f"peak memory (all)        {peak:.0f} MB")
    if not args.keep:
        project.delete()
        shutil.rmtree(OUT, ignore_errors=True)


if __name__ == "__main__":
    main()
