from django.db.models import Count, QuerySet

from .models import Membership, Project


def projects_for_user(*, user) -> QuerySet[Project]:
    return (
        Project.objects.filter(memberships__user=user)
        .annotate(dataset_count=Count("datasets", distinct=True))
        .order_by("name")
    )


def project_members(*, project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("user__username")
