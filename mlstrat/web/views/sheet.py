"""The error-analysis sheet and the list of a run's reviews. Thin: the sheet's data
comes from review selectors, every write goes through the review API (sheet.js)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from mlstrat.accounts.models import Role
from mlstrat.accounts.permissions import has_role
from mlstrat.analytics.selectors import default_reference, team_rule_for
from mlstrat.datasets.models import Split
from mlstrat.review import selectors, services
from mlstrat.review.models import AssignmentMode, ReferenceReview, Review, SavedView
from mlstrat.web.params import id_from
from mlstrat.web.views.projects import run_for


def _review_form_values(post):
    size = post.get("sample_size", "100").strip()
    return {
        "name": post.get("name", "").strip(),
        "split": post.get("split", Split.DEV),
        "task": post.get("task", ""),
        "sample_size": None if post.get("all_errors") else size,
        "seed": post.get("seed", "").strip(),
        "assignment": post.get("assignment", AssignmentMode.EVERYONE),
        "annotators": post.getlist("annotators"),
        "filters": {
            key: post.get(key, "").strip()
            for key in ("label", "prediction", "source", "confidence_min", "confidence_max")
            if post.get(key, "").strip()
        },
        "metadata": post.get("metadata", "").strip(),
    }


def _create_review(request, run, project):
    values = _review_form_values(request.POST)
    filters = values["filters"]
    if values["metadata"]:
        key, sep, value = values["metadata"].partition("=")
        if not sep:
            raise ValidationError({"metadata": "Write metadata as key=value."})
        filters["metadata"] = {key.strip(): value.strip()}
    try:
        sample_size = None if values["sample_size"] is None else int(values["sample_size"])
        seed = int(values["seed"]) if values["seed"] else None
    except ValueError as exc:
        raise ValidationError({"sample_size": "Size and seed are whole numbers."}) from exc
    annotators = list(project.members.filter(username__in=values["annotators"]))
    return services.review_create(
        run=run,
        created_by=request.user,
        name=values["name"],
        split=values["split"],
        task=values["task"],
        sample_size=sample_size,
        seed=seed,
        filters=filters,
        assignment=values["assignment"],
        annotators=annotators,
    )


def _references(*, reviews, chosen: int | None) -> set[int]:
    """The reviews that drive the run's headlines: the one a lead chose (for its task),
    else by default per task of a multi-task run (a task's figures follow a review of
    that task; "" : of all tasks together)."""
    by_task: dict[str, list] = {}
    for r in reviews:
        by_task.setdefault(r.task, []).append(r)
    references = set()
    for group in by_task.values():
        ids = {r.pk for r in group}
        if chosen in ids:
            references.add(chosen)
            continue
        default = default_reference(
            [
                {"id": r.pk, "split": r.split, "filters": r.filters, "reviewed": r.reviewed_count}
                for r in group
            ]
        )
        if default:
            references.add(default["id"])
    return references


@login_required
def review_list(request, slug, run_pk):
    project, membership, run = run_for(request, slug, run_pk)
    if request.method == "POST":
        try:
            review = _create_review(request, run, project)
        except ValidationError as exc:
            for field_errors in exc.message_dict.values():
                for message in field_errors:
                    messages.error(request, message)
            return redirect("review-list", slug=slug, run_pk=run.pk)
        messages.success(
            request, f"Review “{review.name}” started with {review.items.count()} examples."
        )
        return redirect("review-sheet", slug=slug, run_pk=run.pk, review_pk=review.pk)
    rule = team_rule_for(dataset=run.dataset)
    reviews = selectors.reviews_for_run(run=run, rule=rule)
    chosen = ReferenceReview.objects.filter(run=run).values_list("review_id", flat=True).first()
    references = _references(reviews=reviews, chosen=chosen)
    is_lead = has_role(user=request.user, project=project, role=Role.LEAD)
    for review in reviews:
        review.can_delete = is_lead or review.created_by_id == request.user.pk
        review.is_reference = review.pk in references
    return render(
        request,
        "review/review_list.html",
        {
            "project": project,
            "membership": membership,
            "run": run,
            "reviews": reviews,
            "rule": rule,
            "reference_chosen": chosen is not None,
            "is_lead": is_lead,
            "splits": [s for s in Split.choices if s[0] != Split.TRAIN] + [(Split.TRAIN, "train")],
            "members": project.members.order_by("username"),
            "class_names": run.dataset.class_names,
            "tasks": run.dataset.tasks,
            "saved_views": selectors.saved_views_for_run(run=run, slug=project.slug),
        },
    )


@login_required
@require_POST
def review_reference(request, slug, run_pk):
    """Leads choose the review that drives the run's headlines (or go back to the default)."""
    project, _, run = run_for(request, slug, run_pk)
    if not has_role(user=request.user, project=project, role=Role.LEAD):
        messages.error(request, "Only leads choose the reference review.")
        return redirect("review-list", slug=slug, run_pk=run.pk)
    wanted = request.POST.get("review", "")
    review = None
    if wanted:
        review = Review.objects.filter(run=run, pk=id_from(wanted)).first()
        if review is None:
            messages.error(request, "No such review of this run.")
            return redirect("review-list", slug=slug, run_pk=run.pk)
    services.reference_review_set(run=run, review=review, user=request.user)
    if review is None:
        messages.success(request, "The headlines follow the default reference review again.")
    else:
        messages.success(request, f"“{review.name}” now drives the run's headlines.")
    back = request.POST.get("next", "")
    if back.startswith("/") and not back.startswith("//"):
        return redirect(back)
    return redirect("review-list", slug=slug, run_pk=run.pk)


@login_required
@require_POST
def review_delete(request, slug, run_pk, review_pk):
    """Its creator or a lead deletes a review; ticks and comments stay with the run."""
    project, _, run = run_for(request, slug, run_pk)
    review = get_object_or_404(Review, pk=review_pk, run=run)
    is_lead = has_role(user=request.user, project=project, role=Role.LEAD)
    if not is_lead and review.created_by_id != request.user.pk:
        messages.error(request, "Only its creator or a lead deletes a review.")
        return redirect("review-list", slug=slug, run_pk=run.pk)
    name = review.name
    services.review_delete(review=review)
    messages.success(request, f"Review “{name}” deleted; its ticks and comments stay with the run.")
    return redirect("review-list", slug=slug, run_pk=run.pk)


@login_required
@require_POST
def saved_view_delete(request, slug, run_pk, view_pk):
    project, _, run = run_for(request, slug, run_pk)
    view = get_object_or_404(SavedView, pk=view_pk, run=run)
    try:
        services.saved_view_delete(
            view=view,
            user=request.user,
            is_lead=has_role(user=request.user, project=project, role=Role.LEAD),
        )
        messages.success(request, f"View “{view.name}” deleted.")
    except PermissionError as exc:
        messages.error(request, str(exc))
    return redirect("review-list", slug=slug, run_pk=run.pk)


def _columns(value: str) -> list[int]:
    """?cols=3,1,7: the category columns a view shows, in order (bad ids are ignored)."""
    return [pk for pk in map(id_from, value.split(",")) if pk is not None]


def _sheet(request, *, project, membership, run, review, layout="sheet"):
    try:
        query = selectors.SheetQuery.from_params(request.GET)
        if review is not None:
            query.split = review.split
        only = None
        agreement = None
        if query.view == "agreement":
            agreement = selectors.agreement(run=run, review=review, split=query.split)
            only = set(agreement["disagreements"])
        page = selectors.sheet_rows(
            run=run, review=review, user=request.user, query=query, only_examples=only
        )
        error = ""
    except selectors.BadSheetQuery as exc:
        query, page, agreement, error = (
            selectors.SheetQuery(),
            {"rows": [], "next": None},
            None,
            str(exc),
        )
    api = reverse("api-root").rstrip("/")
    args = [project.slug, run.pk] + ([review.pk] if review else [])
    gallery_url = reverse("review-gallery" if review else "run-gallery", args=args)
    query_string = request.GET.urlencode()
    rule = team_rule_for(dataset=run.dataset)
    categories = selectors.categories_for(dataset_id=run.dataset_id)
    summary = selectors.sheet_summary(
        run=run,
        review=review,
        rule=rule,
        split=query.split,
        categories=categories,
        task=query.task,
    )
    reference = None
    if review is not None:
        reference = ReferenceReview.objects.filter(run=run).values_list("review_id", flat=True)
        reference = reference.first()
    config = {
        "me": request.user.pk,
        "username": request.user.username,
        "canManage": has_role(user=request.user, project=project, role=Role.LEAD),
        "run": run.pk,
        "review": review.pk if review else None,
        "split": query.split,
        "dataset": run.dataset_id,
        "classNames": run.dataset.class_names,
        # A multi-task dataset's tasks ([]: no task UI at all) and each task's classes.
        "tasks": run.dataset.tasks,
        "taskClasses": run.dataset.task_class_names if run.dataset.tasks else {},
        # Where each task's label is corrected (or an unknown one filled in): /0/ → pk.
        "labelExample": reverse("label-example", args=[project.slug, 0]),
        "users": {str(k): v for k, v in selectors.members_by_id(project=project).items()},
        "categories": categories,
        "rows": page["rows"],
        "next": page["next"],
        "rule": rule,
        "footer": summary["footer"],
        "progress": summary["progress"],
        "reviewNames": dict(Review.objects.filter(run=run).values_list("pk", "name")),
        "marksSince": timezone.now().isoformat(),
        "isReference": reference == review.pk if review is not None else False,
        "agreement": agreement,
        "since": selectors.latest_event_id(run=run),
        "commentsSince": selectors.latest_comment_id(run=run),
        "query": {
            "label": query.label,
            "prediction": query.prediction,
            "source": query.source,
            "task": query.task,
            "category": query.category,
            "untagged": query.untagged,
            "assignee": "me" if query.mine_only else "",
            "sort": query.sort,
            "after": query.after,
            "view": query.view,
            "open": query.open,
            "ranges": {name: list(bounds) for name, bounds in query.ranges.items()},
            "cols": _columns(request.GET.get("cols", "")),
        },
        "layout": layout,
        "savedViews": selectors.saved_views_for_run(run=run, slug=project.slug),
        "viewParams": [k for k in services.SAVED_VIEW_PARAMS if k != "layout"]
        + selectors.characteristic_params(),
        "choices": selectors.filter_choices(
            run=run, review=review, split=query.split, task=query.task
        ),
        "api": {
            "base": api,
            "tags": reverse("api-tags", args=[run.pk]),
            "comments": reverse("api-comments", args=[run.pk]),
            "changes": reverse("api-changes", args=[run.pk]),
            "categories": reverse("category-list"),
            "reorder": reverse("category-reorder"),
            "views": reverse("saved-view-list"),
            "marks": reverse("review-marks", args=[review.pk]) if review is not None else None,
        },
    }
    return render(
        request,
        "review/gallery.html" if layout == "gallery" else "review/sheet.html",
        {
            "project": project,
            "membership": membership,
            "run": run,
            "review": review,
            "config": config,
            "error": error,
            "char_filters": [
                {
                    "name": name,
                    "min": query.ranges.get(name, (None, None))[0],
                    "max": query.ranges.get(name, (None, None))[1],
                }
                for name in selectors.characteristic_names()
            ],
            "reviews_url": reverse("review-list", args=[project.slug, run.pk]),
            "can_extend": review is not None
            and (config["canManage"] or review.created_by_id == request.user.pk),
            "gallery_url": gallery_url + (f"?{query_string}" if query_string else ""),
            "sheet_url": reverse("review-sheet" if review else "run-sheet", args=args)
            + (f"?{query_string}" if query_string else ""),
        },
        status=400 if error else 200,
    )


@login_required
def review_sheet(request, slug, run_pk, review_pk):
    project, membership, run = run_for(request, slug, run_pk)
    review = get_object_or_404(Review, pk=review_pk, run=run)
    return _sheet(request, project=project, membership=membership, run=run, review=review)


@login_required
def run_sheet(request, slug, run_pk):
    project, membership, run = run_for(request, slug, run_pk)
    return _sheet(request, project=project, membership=membership, run=run, review=None)


@login_required
def review_gallery(request, slug, run_pk, review_pk):
    project, membership, run = run_for(request, slug, run_pk)
    review = get_object_or_404(Review, pk=review_pk, run=run)
    return _sheet(
        request, project=project, membership=membership, run=run, review=review, layout="gallery"
    )


@login_required
def run_gallery(request, slug, run_pk):
    project, membership, run = run_for(request, slug, run_pk)
    return _sheet(
        request, project=project, membership=membership, run=run, review=None, layout="gallery"
    )
