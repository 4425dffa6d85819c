from django.db.models import QuerySet

from mlstrat.accounts.models import Project

from .models import ImportJob


def jobs_for_project(*, project: Project, limit: int = 20) -> QuerySet[ImportJob]:
    """The most recent import jobs of a project, newest first."""
    return (
        ImportJob.objects.filter(project=project)
        .select_related("run", "created_by")
        .defer("errors")
        .order_by("-created_at", "-id")[:limit]
    )


def jobs_for_user(*, user) -> QuerySet[ImportJob]:
    return ImportJob.objects.filter(project__memberships__user=user).select_related(
        "project", "run"
    )
