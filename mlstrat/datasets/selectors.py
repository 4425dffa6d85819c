from django.db.models import Count, Q, QuerySet

from mlstrat.accounts.models import Project

from .models import Dataset, ModelRun, RunStatus


def datasets_for_project(*, project: Project) -> QuerySet[Dataset]:
    return project.datasets.annotate(
        example_count=Count("examples", distinct=True),
        run_count=Count("runs", filter=Q(runs__status=RunStatus.READY), distinct=True),
    ).order_by("name")


def runs_for_dataset(*, dataset: Dataset) -> QuerySet[ModelRun]:
    """Visible runs, oldest first: the order in which a team iterated."""
    return dataset.runs.filter(status=RunStatus.READY).order_by("imported_at", "id")


def visible_runs(*, user) -> QuerySet[ModelRun]:
    return ModelRun.objects.filter(
        status=RunStatus.READY, dataset__project__memberships__user=user
    ).select_related("dataset__project")
