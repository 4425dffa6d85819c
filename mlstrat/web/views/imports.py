"""The import page (admins): upload a dump, follow its job, see recent jobs."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from mlstrat.accounts.models import Role
from mlstrat.datasets.models import Dataset
from mlstrat.imports import selectors, services
from mlstrat.imports.models import ImportJob

from .projects import project_for

NEW_DATASET = "__new__"


def _checked(request, name) -> bool:
    return request.POST.get(name) in {"on", "true", "1"}


@login_required
def imports(request, slug):
    project, membership = project_for(request, slug, role=Role.ADMIN)
    datasets = list(Dataset.objects.filter(project=project).order_by("name"))
    form = {"dataset": datasets[0].name if datasets else NEW_DATASET}
    status = 200
    if request.method == "POST":
        form = request.POST
        chosen = request.POST.get("dataset", NEW_DATASET)
        dataset_name = (
            request.POST.get("new_dataset", "").strip() if chosen == NEW_DATASET else chosen
        )
        try:
            job = services.import_job_create(
                project=project,
                user=request.user,
                dataset_name=dataset_name,
                run_name=request.POST.get("run", ""),
                upload=request.FILES.get("file"),
                replace=_checked(request, "replace"),
                skip_invalid=_checked(request, "skip_invalid"),
            )
        except services.RunExistsError as exc:
            messages.error(request, str(exc))
            status = 409
        except services.QueueUnavailable as exc:
            messages.error(request, str(exc))
            status = 503
        except ValidationError as exc:
            for text in exc.messages:
                messages.error(request, text)
            status = 400
        else:
            return redirect("project-import-job", slug=project.slug, pk=job.pk)
    return render(
        request,
        "imports/imports.html",
        {
            "project": project,
            "membership": membership,
            "datasets": datasets,
            "new_dataset": NEW_DATASET,
            "form": form,
            "jobs": selectors.jobs_for_project(project=project),
        },
        status=status,
    )


@login_required
def import_job(request, slug, pk):
    project, membership = project_for(request, slug, role=Role.ADMIN)
    job = get_object_or_404(ImportJob.objects.select_related("run"), project=project, pk=pk)
    if not job.is_finished and services.import_job_check_lease(job_id=job.pk):
        job.refresh_from_db()
    return render(
        request,
        "imports/job.html",
        {
            "project": project,
            "membership": membership,
            "job": job,
            "dump_kept_until": services.kept_dump_expires_at(job),
        },
    )


@login_required
@require_POST
def import_job_retry(request, slug, pk):
    """Import the valid rows of a job that failed on invalid ones, without a new upload."""
    project, _ = project_for(request, slug, role=Role.ADMIN)
    job = get_object_or_404(ImportJob, project=project, pk=pk)
    try:
        services.import_job_retry_skipping_invalid(job=job)
    except ValidationError as exc:
        for text in exc.messages:
            messages.error(request, text)
    except services.QueueUnavailable as exc:
        messages.error(request, str(exc))
    return redirect("project-import-job", slug=project.slug, pk=job.pk)
