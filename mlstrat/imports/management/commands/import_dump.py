"""Import a dump already on the server (a zip, a table, or a folder), with a progress bar.

    python manage.py import_dump --project SLUG --dataset NAME --run NAME [--replace]
        [--skip-invalid] [--images-dir DIR] [--queue] PATH

By default the job runs in this process; `--queue` hands it to the Celery workers and
follows it. Either way the job is recorded and visible on the import page and the API.
"""

import time

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from mlstrat.accounts.models import Project
from mlstrat.imports import services
from mlstrat.imports.models import ImportJob, JobStatus


class Bars:
    """One tqdm bar per stage, fed from the job's counters."""

    STAGES = [
        ("rows_validated", "rows_total", "checking rows"),
        ("rows_written", "rows_total", "writing rows"),
        ("thumbnails_done", "thumbnails_total", "thumbnails"),
    ]

    def __init__(self, stream):
        self.stream = stream
        self.bars = {}

    def show(self, fields: dict) -> None:
        for done_key, total_key, label in self.STAGES:
            done = fields.get(done_key)
            if not done:
                continue
            bar = self.bars.get(done_key)
            if bar is None:
                bar = self.bars[done_key] = tqdm(
                    desc=label, unit="row", file=self.stream, dynamic_ncols=True
                )
            total = fields.get(total_key) or None
            if total and bar.total != total:
                bar.total = total
            bar.n = done
            bar.refresh()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


class Command(BaseCommand):
    help = "Import a prediction dump from a path on this server."

    def add_arguments(self, parser):
        parser.add_argument("path", help="A .zip, a predictions.csv/.jsonl(.gz), or a folder.")
        parser.add_argument("--project", required=True, help="Project slug.")
        parser.add_argument("--dataset", required=True, help="Dataset name (created if new).")
        parser.add_argument("--run", required=True, help="Run name.")
        parser.add_argument("--replace", action="store_true", help="Replace a run of that name.")
        parser.add_argument(
            "--skip-invalid", action="store_true", help="Import valid rows, list the others."
        )
        parser.add_argument("--images-dir", default="", help="Folder holding the images.")
        parser.add_argument(
            "--queue", action="store_true", help="Let the Celery workers run it and follow it."
        )

    def handle(self, *args, **options):
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"No project with slug {options['project']!r}.")
        try:
            job = services.import_job_create(
                project=project,
                user=None,
                dataset_name=options["dataset"],
                run_name=options["run"],
                server_path=options["path"],
                images_dir=options["images_dir"],
                replace=options["replace"],
                skip_invalid=options["skip_invalid"],
                allow_any_path=True,
                enqueue=options["queue"],
            )
        except (services.RunExistsError, services.QueueUnavailable) as exc:
            raise CommandError(str(exc)) from exc
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(f"Import job #{job.pk}: {job.run_name} into {job.dataset_name}")
        bars = Bars(self.stderr._out)
        try:
            if options["queue"]:
                job = self._follow(job, bars)
            else:
                job = services.import_job_run(job_id=job.pk, listener=bars.show)
                job = self._follow(job, bars)
        finally:
            bars.close()
        self._report(job)

    def _follow(self, job, bars):
        while True:
            job = ImportJob.objects.get(pk=job.pk)
            bars.show({field: getattr(job, field) for stage in Bars.STAGES for field in stage[:2]})
            if job.is_finished:
                return job
            time.sleep(0.5)

    def _report(self, job):
        for error in job.errors:
            column = f" [{error['column']}]" if error["column"] else ""
            self.stderr.write(f"  line {error['line']}{column}: {error['message']}")
        if job.error_count > len(job.errors):
            self.stderr.write(f"  ... and {job.error_count - len(job.errors)} more")
        if job.status != JobStatus.SUCCEEDED:
            raise CommandError(job.message or "The import failed.")
        self.stdout.write(self.style.SUCCESS(job.message))
