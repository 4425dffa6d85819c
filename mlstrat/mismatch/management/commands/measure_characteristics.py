"""Measure the image characteristics of examples imported before they existed:
`python manage.py measure_characteristics --project SLUG [--dataset NAME] [--queue]`."""

from django.core.management.base import BaseCommand, CommandError

from mlstrat.datasets.models import Dataset
from mlstrat.mismatch.services import characteristics_backfill, characteristics_missing


class Command(BaseCommand):
    help = "Measure brightness, contrast, sharpness, noise, colourfulness and size where missing."

    def add_arguments(self, parser):
        parser.add_argument("--project", help="project slug (default: every project)")
        parser.add_argument("--dataset", help="dataset name (default: every dataset)")
        parser.add_argument(
            "--queue", action="store_true", help="hand the chunks to workers instead"
        )

    def handle(self, *args, project=None, dataset=None, queue=False, **options):
        datasets = Dataset.objects.select_related("project").order_by("pk")
        if project:
            datasets = datasets.filter(project__slug=project)
        if dataset:
            datasets = datasets.filter(name=dataset)
        if not datasets.exists():
            raise CommandError("No such dataset.")
        for item in datasets:
            missing = characteristics_backfill(dataset=item, inline=not queue)
            left = characteristics_missing(dataset=item).count()
            self.stdout.write(
                f"{item.project.slug}/{item.name}: {missing} example(s) to measure"
                + (" (queued)" if queue else f", {left} unreadable")
            )
