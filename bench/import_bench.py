"""Import benchmark: N generated rows through the real pipeline on PostgreSQL, against the
machine's floor measured in the same process and run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mlstrat_imports_bench \\
        flock /work/bench.lock .venv/bin/python bench/import_bench.py \\
        [--rows 100000] [--image-width 32] [--folder] [--thumbnails 3000] [--serve 2000] \
        [--tasks 4]

The dump is a .zip holding predictions.csv and one image member per row (what an upload
or `mlstrat push` brings), read through the server-path door so the upload itself is not
timed; with --folder it is a table plus an images folder of a few reused PNGs.

The floor, each part timed here, on the same server and disk:
  (a1) COPY of the dump's table bytes straight from the archive into a bare table of text
       columns (PostgreSQL parses the CSV; no Python per row);
  (a2) COPY of the import's final example and prediction rows, from bytes prepared
       beforehand (`COPY ... TO STDOUT` of what the import wrote), into tables shaped like
       the real ones (same indexes, constraints, foreign keys; commit included): the
       least that writing these rows to this schema costs (into bare tables: printed too);
  (b)  extracting the archive's image members with a plain zipfile loop into files under
       the same MEDIA_ROOT.
  floor = a1 + a2 + b. Printed: import / floor (target <= 2) and the database part's
  rate / (a2)'s rate (target >= 0.5).
Also: thumbnails/s of the thumbnail service against bare Pillow on the same files (in
--thumbnail-rounds rounds, the examples put back as imported before each; the median
ratio), the CPU used per wall second by the import's processes (2.0 = both cores busy) and by the
whole machine (PostgreSQL included), peak memory (ru_maxrss of this process
and of its largest child), and with --serve the latency of image and thumbnail requests.

With --tasks N (#15) the table is a multi-task one: per row N binary tasks
(`label:<task>`, 10% of them "?", `prediction:<task>`, `prob:<task>`), so N examples and
N predictions per row and image; rates are also given per (example, task) pair.
"""

import argparse
import csv
import io
import os
import random
import resource
import shutil
import statistics
import sys
import time
import zipfile
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
    parser.add_argument(
        "--thumbnail-rounds", type=int, default=3, help="rounds of the thumbnail timing"
    )
    parser.add_argument("--images", type=int, default=16, help="distinct PNG files reused")
    parser.add_argument(
        "--image-width", type=int, default=320, help="width of the generated PNGs (4:3)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database rows")
    parser.add_argument(
        "--folder",
        action="store_true",
        help="a table plus an images folder (images already on the server) instead of a zip",
    )
    parser.add_argument("--zip", action="store_true", help="(the default door; kept for scripts)")
    parser.add_argument(
        "--serve", type=int, default=0, help="time this many image and thumbnail requests"
    )
    parser.add_argument(
        "--processes", type=int, default=0, help="MLSTRAT_IMPORT_PROCESSES for the import"
    )
    parser.add_argument("--tasks", type=int, default=0, help="a multi-task table of N tasks")
    return parser.parse_args()


def generate(
    *, rows: int, images: int, width: int = 320, one_per_row: bool = False, tasks: int = 0
) -> Path:
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
    if tasks:
        return _generate_multitask(rows=rows, images=images, one_per_row=one_per_row, tasks=tasks)
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


def _generate_multitask(*, rows: int, images: int, one_per_row: bool, tasks: int) -> Path:
    """predictions.csv of a multi-task dump: per row `tasks` binary tasks, 10% unknown."""
    rng = random.Random(7)
    names = [f"task{t}" for t in range(tasks)]
    splits = ["train"] * 6 + ["train_dev", "dev", "dev", "test"]
    with (OUT / "predictions.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        header = ["example_id", "image", "split", "source"]
        for name in names:
            header += [f"label:{name}", f"prediction:{name}", f"prob:{name}"]
        writer.writerow([*header, "camera"])
        for n in range(rows):
            row = [f"b{n:07d}", image_path(n, images, one_per_row), rng.choice(splits)]
            row.append(rng.choice(["web", "app"]))
            for _ in names:
                truth = rng.choice("01")
                prediction = truth if rng.random() < 0.9 else "1" if truth == "0" else "0"
                label = "?" if rng.random() < 0.1 else truth
                row += [label, prediction, "0.91" if prediction == "1" else "0.09"]
            writer.writerow([*row, rng.choice(["pixel", "iphone"])])
    return OUT / "predictions.csv"


def image_path(n: int, images: int, one_per_row: bool) -> str:
    return f"images/b{n:07d}.png" if one_per_row else f"images/img{n % images:02d}.png"


def write_zip(*, rows: int, images: int) -> Path:
    """dump.zip: the table and one stored member per row (the bytes of one of the
    generated PNGs). Run in a child process: zipfile's writer keeps an entry per member,
    which would otherwise count in this process's peak memory."""
    pngs = [(OUT / "images" / f"img{i:02d}.png").read_bytes() for i in range(images)]
    path = OUT / "dump.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.write(OUT / "predictions.csv", "predictions.csv")
        for n in range(rows):
            archive.writestr(image_path(n, images, True), pngs[n % images])
    return path


def in_child(target, **kwargs):
    """Run `target(**kwargs)` in a forked child (its memory never counts here); returns
    what it returned (a small picklable value)."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)

    def run():
        send.send(target(**kwargs))

    child = context.Process(target=run)
    child.start()
    value = receive.recv()
    child.join()
    return value


# ---------------------------------------------------------------------- the floor


def floor_table_copy(*, dump: Path, folder: bool) -> float:
    """(a1) COPY the dump's table, as stored, into a bare table of text columns."""
    from django.db import connection

    def table_stream():
        if folder:
            return (OUT / "predictions.csv").open("rb")
        return zipfile.ZipFile(dump).open("predictions.csv")

    with table_stream() as handle:
        header = next(csv.reader(io.TextIOWrapper(handle, encoding="utf-8")))
    columns = ", ".join(f'"c{i}" text' for i in range(len(header)))
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_bare_table")
        cursor.execute(f"CREATE TABLE bench_bare_table ({columns})")
        started = time.perf_counter()
        with table_stream() as handle:
            cursor.cursor.copy_expert(
                "COPY bench_bare_table FROM STDIN WITH (FORMAT csv, HEADER true)",
                handle,
                size=1 << 20,
            )
        seconds = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_bare_table")
    return seconds


def floor_final_rows_copy(*, run_id: int, shaped: bool) -> float:
    """(a2) COPY the run's final example and prediction rows, from bytes prepared
    beforehand, into new tables: `shaped`, with the real tables' indexes, constraints and
    foreign keys (what writing these rows to this schema costs at least, commit included);
    else bare (no index, no constraint)."""
    from django.db import connection, transaction

    from mlstrat.datasets.models import Dataset, Example, ModelRun, Prediction

    example_table, prediction_table = Example._meta.db_table, Prediction._meta.db_table
    examples = (
        f'SELECT e.* FROM "{example_table}" e WHERE e.id IN '
        f'(SELECT example_id FROM "{prediction_table}" WHERE run_id = {int(run_id)})'
    )
    predictions = f'SELECT * FROM "{prediction_table}" WHERE run_id = {int(run_id)}'
    like = " INCLUDING ALL" if shaped else ""
    deferred = "DEFERRABLE INITIALLY DEFERRED"
    with connection.cursor() as cursor:
        prepared = {}
        for name, select in (("examples", examples), ("predictions", predictions)):
            prepared[name] = io.BytesIO()
            cursor.cursor.copy_expert(f"COPY ({select}) TO STDOUT", prepared[name])
            prepared[name].seek(0)
        cursor.execute("DROP TABLE IF EXISTS bench_bare_predictions, bench_bare_examples")
        cursor.execute(f'CREATE TABLE bench_bare_examples (LIKE "{example_table}"{like})')
        cursor.execute(f'CREATE TABLE bench_bare_predictions (LIKE "{prediction_table}"{like})')
        if shaped:
            cursor.execute(
                "ALTER TABLE bench_bare_examples ADD FOREIGN KEY (dataset_id) "
                f'REFERENCES "{Dataset._meta.db_table}" (id) {deferred}'
            )
            cursor.execute(
                "ALTER TABLE bench_bare_predictions ADD FOREIGN KEY (example_id) "
                f"REFERENCES bench_bare_examples (id) {deferred}, ADD FOREIGN KEY (run_id) "
                f'REFERENCES "{ModelRun._meta.db_table}" (id) {deferred}'
            )
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:  # the commit checks the keys
        cursor.cursor.copy_expert(
            "COPY bench_bare_examples FROM STDIN", prepared["examples"], 1 << 20
        )
        cursor.cursor.copy_expert(
            "COPY bench_bare_predictions FROM STDIN", prepared["predictions"], 1 << 20
        )
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_bare_predictions, bench_bare_examples")
    return seconds


def floor_extract(*, dump: Path, folder: bool) -> float:
    """(b) Extract every image member with a plain loop into files under MEDIA_ROOT (the
    same disk the import stores to); the folder door copies each row's image file."""
    from django.conf import settings

    target = Path(settings.MEDIA_ROOT) / "bench-extract"
    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    made = set()
    if folder:
        with (OUT / "predictions.csv").open(newline="") as handle:
            for n, row in enumerate(csv.DictReader(handle)):
                path = target / f"{n}.png"
                if path.parent not in made:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    made.add(path.parent)
                shutil.copyfile(OUT / row["image"], path)
    else:
        with zipfile.ZipFile(dump) as archive:
            for info in archive.infolist():
                if info.filename == "predictions.csv" or info.is_dir():
                    continue
                path = target / info.filename
                if path.parent not in made:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    made.add(path.parent)
                with open(path, "wb") as out:
                    out.write(archive.read(info))
    seconds = time.perf_counter() - started
    shutil.rmtree(target, ignore_errors=True)
    return seconds


# ---------------------------------------------------------------------- the rest


class ImportMemory:
    """Samples, every 0.2 s while the import runs, the resident memory of this process's
    children alive then (the row-check processes) and the proportional set size of this
    process and those children together. ru_maxrss of the children cannot tell them from
    the bench's own children (the zip writer, the (a1) floor), which hold zipfile's index
    of every member."""

    def __enter__(self):
        import threading

        import psutil

        self.child_rss = self.total_pss = 0.0
        self._stop = threading.Event()
        me = psutil.Process()

        def sample():
            while not self._stop.wait(0.2):
                try:
                    children = me.children(recursive=True)
                    rss = [c.memory_info().rss for c in children]
                    pss = sum(p.memory_full_info().pss for p in [me, *children])
                except psutil.Error:
                    continue  # a child ended between listing and reading
                self.child_rss = max(self.child_rss, max(rss, default=0) / 2**20)
                self.total_pss = max(self.total_pss, pss / 2**20)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def bare_pillow_seconds(examples) -> float:
    """Decode, resize and encode the same images with nothing around it; the bytes read
    the fastest way: each pack opened once, a seek and a read per image."""
    from PIL import Image

    from mlstrat.datasets.images import StoredReader
    from mlstrat.imports.services import THUMBNAIL_SIDE

    started = time.perf_counter()
    with StoredReader() as stored:
        for example in examples:
            data = stored.read(example.image.name, example.image_offset, example.image_size)
            with Image.open(io.BytesIO(data)) as image:
                image.draft("RGB", (THUMBNAIL_SIDE, THUMBNAIL_SIDE))
                image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
                out = io.BytesIO()
                image.save(out, "PNG", compress_level=1)
    return time.perf_counter() - started


def thumbnail_rounds(*, job, examples, rounds: int) -> list[float]:
    """Thumbnails per second against bare Pillow on the same images, in rounds: each round
    puts the examples back as the import left them (their own thumbnail recorded or none,
    nothing measured), then runs the thumbnail pass over them chunk by chunk as workers
    do, alternating with bare Pillow chunk by chunk. One ratio per round: a machine's
    moment of noise moves one round, not the figure (their median)."""
    from mlstrat.datasets.models import Example
    from mlstrat.imports import services
    from mlstrat.mismatch.models import ExampleCharacteristics

    ids = [e.pk for e in examples]
    without = [e.pk for e in examples if not e.thumbnail]
    ratios = []
    for round_number in range(rounds):
        ExampleCharacteristics.objects.filter(example_id__in=ids).delete()
        Example.objects.filter(pk__in=without).update(
            thumbnail="", thumbnail_offset=None, thumbnail_size=None
        )
        bare_s = thumbs_s = 0.0
        for i in range(0, len(examples), services.THUMBNAIL_CHUNK):
            chunk = examples[i : i + services.THUMBNAIL_CHUNK]
            bare_first = (i // services.THUMBNAIL_CHUNK + round_number) % 2
            if bare_first:
                bare_s += bare_pillow_seconds(chunk)
            started = time.perf_counter()
            services.thumbnails_make(job_id=job.pk, example_ids=[e.pk for e in chunk])
            thumbs_s += time.perf_counter() - started
            if not bare_first:
                bare_s += bare_pillow_seconds(chunk)
        thumb_rate, bare_rate = len(examples) / thumbs_s, len(examples) / bare_s
        print(
            f"thumbnails, round {round_number + 1}     {thumb_rate:,.0f} /s per worker "
            f"({len(examples)} images); bare Pillow {bare_rate:,.0f} /s: "
            f"{thumb_rate / bare_rate:.2f}"
        )
        ratios.append(thumb_rate / bare_rate)
    return ratios


def serve_latencies(*, project, user, count: int) -> dict:
    """Full requests (session, membership check, storage read) for random examples."""
    from django.test import Client

    from mlstrat.datasets.models import Example

    ids = list(Example.objects.filter(dataset__project=project).values_list("pk", flat=True))
    rng = random.Random(3)
    client = Client()
    client.force_login(user)
    found = {}
    for kind in ("image", "thumbnail"):
        times = []
        for pk in (rng.choice(ids) for _ in range(count)):
            started = time.perf_counter()
            response = client.get(f"/examples/{pk}/{kind}/")
            body = b"".join(response) if response.streaming else response.content
            times.append(time.perf_counter() - started)
            assert response.status_code == 200 and body, (kind, pk, response.status_code)
        times.sort()
        found[kind] = (statistics.median(times), times[int(len(times) * 0.95) - 1])
    return found


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores, every process: PostgreSQL's
    backend doing the COPYs included), from /proc/stat; 0 where there is none."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(x) for x in stat.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main():
    sys.stdout.reconfigure(line_buffering=True)
    args = parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (it is migrated and written to).")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlstrat.settings.local")
    os.environ["MEDIA_ROOT"] = str(OUT / "media")
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.pop("REDIS_URL", None)
    if args.processes:
        os.environ["MLSTRAT_IMPORT_PROCESSES"] = str(args.processes)
    import django

    django.setup()
    from copyload import scratch_database

    from mlstrat.accounts.models import Project, User
    from mlstrat.accounts.services import project_create
    from mlstrat.datasets.models import Example
    from mlstrat.imports import services, tasks

    # Thumbnails are timed separately below, in chunks as a worker makes them.
    tasks.thumbnails_make_task.delay = lambda *args, **kwargs: None
    scratch_database(why="COPY and the floor")
    folder = args.folder
    print(f"Generating {args.rows} rows ...", flush=True)
    generate(
        rows=args.rows,
        images=args.images,
        width=args.image_width,
        one_per_row=not folder,
        tasks=args.tasks,
    )
    dump = OUT / "predictions.csv"
    if not folder:
        in_child(write_zip, rows=args.rows, images=args.images)
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
    # In a child: zipfile's own index of a million members (+600 MB) must not count in
    # this process's peak memory, which is the import's.
    table_s = [in_child(floor_table_copy, dump=dump, folder=folder)]
    cpu_before = cpu_seconds()
    machine_before = machine_busy_seconds()
    started = time.perf_counter()
    with ImportMemory() as memory:
        job = services.import_job_run(job_id=job.pk, inline_thumbnails=False)
    total = time.perf_counter() - started
    cpu_used = cpu_seconds() - cpu_before
    machine_used = machine_busy_seconds() - machine_before
    assert job.status != "failed", (job.message, job.errors[:5])
    peak_import = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    peak_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    timings = job.timings
    # The machine may be shared: each floor part is taken twice around the import's
    # neighbours and averaged; thumbnails and bare Pillow alternate chunk by chunk.
    table_s.append(floor_table_copy(dump=dump, folder=folder))
    rows_s = [floor_final_rows_copy(run_id=job.run_id, shaped=True) for _ in range(2)]
    bare_rows_s = floor_final_rows_copy(run_id=job.run_id, shaped=False)
    extract_s = floor_extract(dump=dump, folder=folder)
    a1, a2 = statistics.mean(table_s), statistics.mean(rows_s)
    floor = a1 + a2 + extract_s

    db_s = timings["db_s"]
    # Printed as soon as measured: a long run's figures survive a failure further on.
    print(f"rows                     {args.rows} ({'folder' if folder else 'zip'} door, "
          f"{args.image_width} px images)")  # fmt: skip
    print(f"load average             {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"import wall time         {total:.1f} s (job {job.status})")
    stages = ", ".join(
        f"{name[:-2]} {value:.1f} s" for name, value in timings.items() if name.endswith("_s")
    )
    print(f"  stages: {stages}")
    print(f"  CPU per wall second    {cpu_used / total:.2f} (2.00 = both cores busy)")
    print(
        f"  machine CPU per wall   {machine_used / total:.2f} of {os.cpu_count()} "
        "(every process: the database's included)"
    )
    print(f"floor (a1) table COPY    {a1:.2f} s ({args.rows / a1:,.0f} rows/s)")
    print(f"floor (a2) final rows    {a2:.2f} s (examples + predictions from prepared bytes,")
    print(f"  into tables with the real indexes and keys; {bare_rows_s:.2f} s into bare ones)")
    print(f"floor (b) extract        {extract_s:.1f} s (plain zipfile loop into files)")
    print(f"floor = a1 + a2 + b      {floor:.1f} s")
    print(f"import / floor           {total / floor:.2f}  (target <= 2)")
    print(f"database part            {db_s:.2f} s ({args.rows / db_s:,.0f} rows/s)")
    print(f"database part / (a2)     {a2 / db_s:.2f}  (target >= 0.5)")
    print(f"peak memory (import)     {peak_import:.0f} MB; largest child {peak_children:.0f} MB")
    print(
        f"  sampled during the import: largest row-check child {memory.child_rss:.0f} MB "
        f"(RSS); the import's processes together {memory.total_pss:.0f} MB (PSS: shared "
        "pages counted once)"
    )
    if args.tasks:
        pairs = args.rows * args.tasks
        print(f"tasks                    {args.tasks} per row: {pairs:,} (example, task) pairs")
        print(
            f"import per pair          {pairs / total:,.0f} pairs/s "
            f"({args.rows / total:,.0f} rows/s)"
        )
        print(f"database part per pair   {pairs / db_s:,.0f} pairs/s")

    examples = Example.objects.filter(dataset__project=project).order_by("pk")
    # Sliced in SQL: a million (or four million) examples are not loaded to time a few.
    examples = list(examples[: args.thumbnails] if args.thumbnails else examples)
    ratios = thumbnail_rounds(job=job, examples=examples, rounds=args.thumbnail_rounds)
    print(
        f"ratio to bare Pillow     {statistics.median(ratios):.2f}  (target >= 0.8; median of "
        f"{len(ratios)} rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    if args.serve:
        served = serve_latencies(project=project, user=user, count=args.serve)
        for kind, (median, p95) in served.items():
            print(f"serve {kind:<9}   median {median * 1e3:.1f} ms, p95 {p95 * 1e3:.1f} ms")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (all)        {peak:.0f} MB")
    if not args.keep:
        project.delete()
        shutil.rmtree(OUT, ignore_errors=True)


if __name__ == "__main__":
    main()
