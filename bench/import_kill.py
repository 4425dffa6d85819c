"""Faults: imports whose Celery worker is SIGKILLed at a random point.

    psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE mlstrat_importkill_bench"
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mlstrat_importkill_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/6 \\
        .venv/bin/python bench/import_kill.py [--imports 10] [--rows 50000] [--seed 1]

Starts a real `celery worker` (prefork, one process), then for each import: uploads a
zip of N rows (one PNG per row) to a new dataset, picks a random point (a phase among
validating, writing and making thumbnails, and a fraction of that phase's progress),
SIGKILLs the worker's pool process when the job reaches it (as the OOM killer would),
and waits for the job to end (the message is redelivered: acks_late and
reject_on_worker_lost). Each import must end with exactly N rows visible (succeeded) or
none visible (failed, with a reason), and never a duplicate example or prediction.
The database must be a scratch one (its name contains "bench"); it is emptied at the end.
"""

import argparse
import io
import os
import random
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlstrat.settings.local")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/6")
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="mlstrat-importkill-"))

import django  # noqa: E402

django.setup()

PHASES = ["validating", "writing", "thumbnails"]


def dump_zip(rows: int) -> bytes:
    from tests.imports.builders import csv_text, png_bytes
    from tests.imports.builders import rows as table_rows

    image = png_bytes(size=(48, 48))
    table = table_rows(rows)
    for i, row in enumerate(table):  # ids and file names wide enough for 50,000+ rows
        row["example_id"] = f"ex{i:07d}"
        row["image"] = f"images/ex{i:07d}.png"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("predictions.csv", csv_text(table))
        for row in table:
            archive.writestr(row["image"], image)
    return buffer.getvalue()


def start_worker(log: Path):
    import subprocess
    import uuid

    from django.db import connection

    from mlstrat import celery_app
    from tests.celery_worker import Worker, database_url

    name = f"importkill-{uuid.uuid4().hex[:8]}@localhost"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "CONN_MAX_AGE": "0",
        "PYTHONUNBUFFERED": "1",
    }
    celery_app.control.purge()
    out = log.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "mlstrat", "worker", "--loglevel=INFO"]
        + ["--pool=prefork", "--concurrency=1", "--without-gossip", "--without-mingle"]
        + ["-n", name],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )
    worker = Worker(process, log)
    deadline = time.monotonic() + 60
    while not celery_app.control.ping(destination=[name], timeout=0.5):
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"worker did not start:\n{worker.output()[-3000:]}")
    return worker


def progress(job, phase) -> float:
    if phase == "validating":
        return job.rows_validated / max(job.rows_total or 1, 1)
    if phase == "writing":
        return job.rows_written / max(job.rows_validated or 1, 1)
    return job.thumbnails_done / max(job.thumbnails_total or 1, 1)


def wait_and_kill(job, worker, phase, fraction, timeout=600):
    """Kill the pool process once the job is `fraction` through `phase` (or past it)."""
    from mlstrat.imports.models import ImportJob

    order = {p: i for i, p in enumerate(["queued", *PHASES, "succeeded", "failed"])}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = ImportJob.objects.get(pk=job.pk)
        if job.status == phase and progress(job, phase) >= fraction:
            break
        if order[job.status] > order[phase]:
            break
        time.sleep(0.02)
    killed = worker.kill_pool()
    return job, killed


def wait_finished(job, timeout=900):
    from mlstrat.imports.models import ImportJob

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = ImportJob.objects.get(pk=job.pk)
        if job.is_finished:
            return job
        time.sleep(0.2)
    return job


def outcome(job, rows: int) -> dict:
    from django.db.models import Count

    from mlstrat.datasets.models import Example, ModelRun, Prediction, RunStatus

    visible = Prediction.objects.filter(
        run__dataset__name=job.dataset_name,
        run__dataset__project=job.project,
        run__status=RunStatus.READY,
    ).count()
    examples = Example.objects.filter(dataset__name=job.dataset_name, dataset__project=job.project)
    duplicate_examples = (
        examples.values("example_id").annotate(n=Count("id")).filter(n__gt=1).count()
    )
    duplicate_predictions = (
        Prediction.objects.filter(run__dataset__name=job.dataset_name)
        .values("run_id", "example_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    runs = ModelRun.objects.filter(dataset__name=job.dataset_name, status=RunStatus.READY).count()
    ok = (
        (
            (job.status == "succeeded" and visible == rows and runs == 1)
            or (job.status == "failed" and visible == 0 and bool(job.message))
        )
        and not duplicate_examples
        and not duplicate_predictions
    )
    return {
        "status": job.status,
        "attempts": job.attempts,
        "visible": visible,
        "examples": examples.count(),
        "duplicates": duplicate_examples + duplicate_predictions,
        "ok": ok,
        "message": job.message[:120],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imports", type=int, default=10)
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from copyload import scratch_database
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command

    from mlstrat.accounts.models import Membership, Project, Role, User
    from mlstrat.imports import services

    scratch_database()
    rng = random.Random(args.seed)
    project = Project.objects.create(name="import kill", slug=f"import-kill-{int(time.time())}")
    admin = User.objects.get_or_create(username="importkill")[0]
    Membership.objects.create(project=project, user=admin, role=Role.ADMIN)
    data = dump_zip(args.rows)
    print(f"dump: {args.rows:,} rows, {len(data) / 1e6:.1f} MB zip")
    log = Path(tempfile.mkdtemp(prefix="importkill-log-")) / "worker.log"
    worker = start_worker(log)
    results = []
    try:
        for i in range(args.imports):
            phase, fraction = rng.choice(PHASES), round(rng.random(), 2)
            started = time.monotonic()
            job = services.import_job_create(
                project=project,
                user=admin,
                dataset_name=f"kill-{i}",
                run_name="v1",
                upload=SimpleUploadedFile("dump.zip", data),
            )
            job, killed = wait_and_kill(job, worker, phase, fraction)
            at = f"{job.status} {progress(job, job.status) if job.status in PHASES else 1:.0%}"
            job = wait_finished(job)
            result = {
                "import": i,
                "kill_aimed_at": f"{phase} {fraction:.0%}",
                "killed_at": at,
                "pool_killed": bool(killed),
                "seconds": round(time.monotonic() - started, 1),
                **outcome(job, args.rows),
            }
            results.append(result)
            print(result, flush=True)
    finally:
        worker.process.terminate()
        worker.process.wait(timeout=30)
    print(
        "\n| # | kill aimed at | job was at | status | attempts | rows visible | duplicates "
        "| seconds | ok |"
    )
    print("|---|---|---|---|---:|---:|---:|---:|---|")
    for r in results:
        print(
            f"| {r['import']} | {r['kill_aimed_at']} | {r['killed_at']} | {r['status']} "
            f"| {r['attempts']} | {r['visible']:,} | {r['duplicates']} | {r['seconds']} "
            f"| {'yes' if r['ok'] else 'NO'} |"
        )
    bad = [r for r in results if not r["ok"]]
    print(f"\n{len(results) - len(bad)} of {len(results)} imports ended whole or empty")
    call_command("flush", interactive=False, verbosity=0)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
