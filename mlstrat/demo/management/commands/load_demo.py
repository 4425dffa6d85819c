"""Load the digits demo (idempotent): `python manage.py load_demo`."""

from django.core.management.base import BaseCommand, CommandError

from mlstrat.datasets.models import Dataset, ModelRun, RunStatus
from mlstrat.demo.services import DemoLoadError, demo_load, demo_logins


class Command(BaseCommand):
    help = "Create the digits demo: users, a project, two imported runs."

    def handle(self, *args, **options):
        try:
            project = demo_load()
        except DemoLoadError as exc:
            raise CommandError(str(exc)) from exc
        datasets = Dataset.objects.filter(project=project).order_by("name")
        described = []
        for dataset in datasets:
            runs = ModelRun.objects.filter(dataset=dataset, status=RunStatus.READY)
            tasks = f", {len(dataset.tasks)} tasks" if dataset.tasks else ""
            described.append(f"{dataset.name}{tasks}: {', '.join(run.name for run in runs)}")
        self.stdout.write(
            f"Demo project “{project.name}” (/p/{project.slug}/): "
            f"{len(described)} dataset{'s' if len(described) != 1 else ''} "
            f"({'; '.join(described)})."
        )
        self.stdout.write(self.style.SUCCESS("Demo logins (user / password, role):"))
        for login in demo_logins():
            self.stdout.write(f"  {login.username:<11} / {login.password}   ({login.role})")
