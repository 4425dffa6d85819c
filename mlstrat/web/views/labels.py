"""Pages of the labels concern: the review queue, an example's label history, likely bad
labels, samples of correct predictions, correction patterns and exports.

Decisions are plain form posts to thin views that call the services; labels.js adds the
keyboard (a accept, r reject, e edit, j/k move)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from mlstrat.accounts.models import Role
from mlstrat.datasets.models import Example, ModelRun, RunStatus, Split
from mlstrat.datasets.selectors import datasets_for_project, runs_for_dataset
from mlstrat.labels import exports, ranking, selectors, services
from mlstrat.labels.models import (
    CheckOrigin,
    CheckOutcome,
    CorrectionStatus,
    CorrectSample,
    CorrectSampleItem,
    LabelChange,
    LabelCorrection,
)
from mlstrat.labels.tasks import label_scores_compute
from mlstrat.web.params import id_from

from .projects import project_for

QUEUE_PAGE_SIZE = 20
RANKING_PAGE_SIZE = 50
STATUS_FILTERS = [
    ("pending", "Pending"),
    *[(s, s.capitalize()) for s in CorrectionStatus.values if s != "pending"],
    ("", "All"),
]


def _is_lead(membership) -> bool:
    return membership.has_role(Role.LEAD)


def _dataset_for(request, project):
    """The dataset picked in ?dataset= (or posted), else the project's first."""
    datasets = list(datasets_for_project(project=project))
    wanted = request.GET.get("dataset") or request.POST.get("dataset")
    if wanted:
        for dataset in datasets:
            if str(dataset.pk) == wanted:
                return dataset, datasets
        raise Http404("No such dataset in this project.")
    return (datasets[0] if datasets else None), datasets


def _example_in(project, pk) -> Example:
    return get_object_or_404(
        Example.objects.select_related("dataset__project"), pk=pk, dataset__project=project
    )


def _classes_of(example: Example) -> list[str]:
    """The classes an example may take: its task's on a multi-task dataset."""
    dataset = example.dataset
    return dataset.classes_for(example.task) or dataset.class_names


def _page_context(project, membership) -> dict:
    """What every labels page needs: where we are and whether the viewer decides."""
    return {"project": project, "membership": membership, "is_lead": _is_lead(membership)}


def _back(request, fallback: str):
    """Where a form came from (only our own pages), else `fallback`."""
    target = request.POST.get("back", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    return redirect(fallback)


@login_required
@require_GET
def label_queue(request, slug):
    project, membership = project_for(request, slug)
    dataset, datasets = _dataset_for(request, project)
    context = {
        **_page_context(project, membership),
        "datasets": datasets,
        "dataset": dataset,
        "splits": Split.choices,
        "statuses": STATUS_FILTERS,
    }
    if dataset is None:
        return render(request, "labels/queue.html", context)
    status = request.GET.get("status", CorrectionStatus.PENDING)
    split = request.GET.get("split", "")
    if status not in CorrectionStatus.values and status != "":
        status = CorrectionStatus.PENDING
    if split not in Split.values:
        split = ""
    task = request.GET.get("task", "")
    task = task if task in dataset.tasks else ""
    mine = None if context["is_lead"] else request.user
    examples = selectors.queue_examples(
        dataset=dataset, status=status, split=split, proposed_by=mine, task=task
    )
    page = Paginator(examples, QUEUE_PAGE_SIZE).get_page(request.GET.get("page"))
    run = selectors.latest_run(dataset=dataset)
    queued = selectors.with_queue_details(
        examples=page.object_list, status=status, proposed_by=mine
    )
    for example in queued:
        # A multi-task example takes one of its task's classes.
        example.class_choices = dataset.classes_for(example.task) or dataset.class_names
    context.update(
        {
            "status": status,
            "split": split,
            "task": task,
            "page": page,
            "examples": queued,
            "class_names": dataset.class_names,
            "run": run,
            "balance": selectors.correction_balance(dataset=dataset),
            "task_balances": selectors.correction_balance_per_task(dataset=dataset),
            "estimates": [
                (r, selectors.correct_sample_estimate(run=r))
                for r in runs_for_dataset(dataset=dataset)
            ],
            "export_links": [
                (kind, fmt, reverse(f"label-export-{kind}-{fmt}", args=[slug, dataset.pk]))
                for kind in exports.KINDS
                for fmt in exports.FORMATS
            ],
        }
    )
    return render(request, "labels/queue.html", context)


@login_required
@require_POST
def correction_decide(request, slug, correction_pk):
    project, _ = project_for(request, slug, role=Role.LEAD)
    correction = get_object_or_404(
        LabelCorrection, pk=correction_pk, example__dataset__project=project
    )
    decision = request.POST.get("decision")
    if decision not in ("accept", "reject"):
        messages.error(request, "Choose accept or reject.")
        return _back(request, reverse("label-queue", args=[slug]))
    try:
        expected = int(request.POST.get("expected_version", ""))
    except ValueError:
        messages.error(request, "The form lost the proposal's version; reload and try again.")
        return _back(request, reverse("label-queue", args=[slug]))
    note = request.POST.get("note", "").strip()
    try:
        if decision == "accept":
            label = request.POST.get("label", "").strip() or None
            services.correction_accept(
                correction=correction,
                reviewer=request.user,
                expected_version=expected,
                label=label,
                note=note,
            )
            correction.refresh_from_db()
            change = correction.changes.first()
            messages.success(
                request,
                f"{correction.example.example_id}: label is now “{change.to_label}” "
                f"(was “{change.from_label}”).",
            )
        else:
            services.correction_reject(
                correction=correction, reviewer=request.user, expected_version=expected, note=note
            )
            messages.success(
                request, f"{correction.example.example_id}: kept “{correction.example.label}”."
            )
    except services.StaleDecision as exc:
        messages.error(request, f"Not saved: {exc}")
    except services.InvalidLabel as exc:
        messages.error(request, str(exc))
    return _back(request, reverse("label-queue", args=[slug]))


@login_required
@require_GET
def example_labels(request, slug, example_pk):
    project, membership = project_for(request, slug)
    example = _example_in(project, example_pk)
    run = selectors.latest_run(dataset=example.dataset)
    context = {
        **_page_context(project, membership),
        "example": example,
        "history": selectors.example_history(example=example),
        "class_names": [c for c in _classes_of(example) if c != example.label],
        "siblings": selectors.sibling_tasks(example=example),
        "run": run,
    }
    return render(request, "labels/example.html", context)


@login_required
@require_POST
def example_propose(request, slug, example_pk):
    project, _ = project_for(request, slug)
    example = _example_in(project, example_pk)
    run = ModelRun.objects.filter(
        pk=id_from(request.POST.get("run")), dataset=example.dataset
    ).first()
    try:
        services.correction_propose(
            example=example,
            proposed_label=request.POST.get("label", ""),
            proposed_by=request.user,
            reason=request.POST.get("reason", ""),
            run=run,
        )
        messages.success(
            request, f"Proposed a new label for {example.example_id}; a lead reviews it."
        )
    except services.InvalidLabel as exc:
        messages.error(request, str(exc))
    return _back(request, reverse("label-example", args=[slug, example.pk]))


@login_required
@require_POST
def example_confirm(request, slug, example_pk):
    project, _ = project_for(request, slug)
    example = _example_in(project, example_pk)
    origin = request.POST.get("origin", CheckOrigin.RANKING)
    if origin not in (CheckOrigin.RANKING, CheckOrigin.ERROR_REVIEW):
        origin = CheckOrigin.RANKING
    services.label_check_record(example=example, checked_by=request.user, origin=origin)
    messages.success(request, f"{example.example_id}: “{example.label}” confirmed.")
    return _back(request, reverse("label-example", args=[slug, example.pk]))


@login_required
@require_POST
def change_revert(request, slug, change_pk):
    project, _ = project_for(request, slug, role=Role.LEAD)
    change = get_object_or_404(
        LabelChange.objects.select_related("example"),
        pk=change_pk,
        example__dataset__project=project,
    )
    try:
        revert = services.label_change_revert(
            change=change, by=request.user, reason=request.POST.get("reason", "")
        )
        messages.success(
            request, f"Reverted: {change.example.example_id} is “{revert.to_label}” again."
        )
    except services.StaleDecision as exc:
        messages.error(request, f"Not reverted: {exc}")
    return _back(request, reverse("label-example", args=[slug, change.example_id]))


def _ranked_runs(dataset):
    return [run for run in runs_for_dataset(dataset=dataset) if run.has_probabilities]


@login_required
@require_GET
def label_ranking(request, slug):
    project, membership = project_for(request, slug)
    dataset, datasets = _dataset_for(request, project)
    runs = _ranked_runs(dataset) if dataset else []
    run = None
    if request.GET.get("run"):
        run = next((r for r in runs if str(r.pk) == request.GET["run"]), None)
        if run is None:
            raise Http404("No such run with probabilities in this dataset.")
    elif runs:
        run = runs[-1]
    split = request.GET.get("split", "")
    split = split if split in Split.values else ""
    method = request.GET.get("method", ranking.SELF_CONFIDENCE)
    method = method if method in ranking.METHODS else ranking.SELF_CONFIDENCE
    context = {
        **_page_context(project, membership),
        "datasets": datasets,
        "dataset": dataset,
        "runs": runs,
        "run": run,
        "split": split,
        "method": method,
        "methods": [
            (ranking.SELF_CONFIDENCE, "Self-confidence p(label)"),
            (ranking.MARGIN, "Normalized margin p(label) − max other"),
        ],
        "splits": Split.choices,
    }
    if run is not None:
        scores = selectors.label_scores(run=run, split=split, method=method)
        page = Paginator(scores, RANKING_PAGE_SIZE).get_page(request.GET.get("page"))
        rows = list(page.object_list)
        pending = set(
            LabelCorrection.objects.filter(
                example__in=[s.example_id for s in rows], status=CorrectionStatus.PENDING
            ).values_list("example_id", flat=True)
        )
        predictions = dict(
            run.predictions.filter(example__in=[s.example_id for s in rows]).values_list(
                "example_id", "predicted_label"
            )
        )
        for row in rows:
            row.pending = row.example_id in pending
            row.predicted_label = predictions.get(row.example_id, "")
            row.others = [c for c in dataset.class_names if c != row.label]
        context.update(
            {
                "page": page,
                "rows": rows,
                "first_rank": page.start_index(),
                "scored": page.paginator.count,
            }
        )
    return render(request, "labels/ranking.html", context)


@login_required
@require_POST
def ranking_compute(request, slug):
    project, _ = project_for(request, slug, role=Role.LEAD)
    run = get_object_or_404(
        ModelRun,
        pk=id_from(request.POST.get("run")),
        dataset__project=project,
        status=RunStatus.READY,
        has_probabilities=True,
    )
    label_scores_compute.delay(run_id=run.pk)
    messages.success(request, f"Ranking {run.name}: refresh in a moment if the list is empty.")
    url = reverse("label-ranking", args=[slug])
    return redirect(f"{url}?dataset={run.dataset_id}&run={run.pk}")


@login_required
@require_GET
def label_samples(request, slug):
    project, membership = project_for(request, slug)
    dataset, datasets = _dataset_for(request, project)
    context = {
        **_page_context(project, membership),
        "datasets": datasets,
        "dataset": dataset,
        "splits": Split.choices,
    }
    if dataset is None:
        return render(request, "labels/samples.html", context)
    runs = list(runs_for_dataset(dataset=dataset))
    samples = list(selectors.samples_for_dataset(dataset=dataset))
    for sample in samples:
        sample.estimate = selectors.sample_estimate(sample=sample)
    context.update(
        {
            "runs": runs,
            "samples": samples,
            "estimates": [(run, selectors.correct_sample_estimate(run=run)) for run in runs],
        }
    )
    if request.GET.get("sample"):
        sample = get_object_or_404(
            CorrectSample.objects.select_related("run"),
            pk=id_from(request.GET["sample"]),
            run__dataset=dataset,
        )
        context.update(
            {
                "sample": sample,
                "sample_estimate": selectors.sample_estimate(sample=sample),
                "items": selectors.sample_items(sample=sample),
                "class_names": dataset.class_names,
            }
        )
    return render(request, "labels/samples.html", context)


@login_required
@require_POST
def sample_draw(request, slug):
    project, _ = project_for(request, slug, role=Role.LEAD)
    run = get_object_or_404(
        ModelRun,
        pk=id_from(request.POST.get("run")),
        dataset__project=project,
        status=RunStatus.READY,
    )
    seed = request.POST.get("seed", "").strip()
    url = reverse("label-samples", args=[slug]) + f"?dataset={run.dataset_id}"
    if seed and not (seed.isascii() and seed.isdigit()):
        messages.error(request, "The seed is a whole number (or leave it empty).")
        return redirect(url)
    try:
        sample = services.correct_sample_draw(
            run=run,
            split=request.POST.get("split", ""),
            size=request.POST.get("size"),
            seed=int(seed) if seed else None,
            created_by=request.user,
        )
    except services.InvalidSample as exc:
        messages.error(request, str(exc))
        return redirect(url)
    messages.success(
        request,
        f"Drew {sample.size} of {sample.population} correct predictions (seed {sample.seed}).",
    )
    return redirect(f"{url}&sample={sample.pk}")


@login_required
@require_POST
def sample_check(request, slug):
    project, _ = project_for(request, slug)
    item = get_object_or_404(
        CorrectSampleItem.objects.select_related("sample__run"),
        pk=id_from(request.POST.get("item")),
        sample__run__dataset__project=project,
    )
    outcome = request.POST.get("outcome")
    if outcome not in CheckOutcome.values:
        return HttpResponseBadRequest("Say whether the label is right (confirmed) or wrong.")
    try:
        services.correct_sample_check(
            item=item,
            checked_by=request.user,
            outcome=outcome,
            label=request.POST.get("label", ""),
            reason=request.POST.get("reason", ""),
        )
    except services.InvalidLabel as exc:
        messages.error(request, str(exc))
    url = reverse("label-samples", args=[slug])
    return _back(request, f"{url}?dataset={item.sample.run.dataset_id}&sample={item.sample_id}")


@login_required
@require_GET
def label_patterns(request, slug):
    project, membership = project_for(request, slug)
    dataset, datasets = _dataset_for(request, project)
    pairs = selectors.correction_patterns(dataset=dataset) if dataset else []
    return render(
        request,
        "labels/patterns.html",
        {
            "project": project,
            "membership": membership,
            "datasets": datasets,
            "dataset": dataset,
            "pairs": pairs,
            "split_columns": [value for value, _ in Split.choices],
        },
    )


@login_required
@require_GET
def label_export(request, slug, dataset_pk, kind, fmt):
    project, _ = project_for(request, slug)
    dataset = get_object_or_404(project.datasets, pk=dataset_pk)
    task = request.GET.get("task", "")
    if task and task not in dataset.tasks:
        raise Http404("No such task in this dataset.")
    return exports.export_response(dataset=dataset, kind=kind, fmt=fmt, task=task or None)
