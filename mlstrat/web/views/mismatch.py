"""Pages of the data-mismatch concern: how train differs from dev, the train-vs-dev
review sheet and its figures, synthesis recipes with their preview, and jobs. Thin: reads
come from mismatch selectors, writes go through mismatch services (forms here, the rest
through the API from mismatch.js)."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from mlstrat.accounts.models import Role
from mlstrat.accounts.permissions import has_role
from mlstrat.datasets.models import Dataset, Split
from mlstrat.datasets.selectors import runs_for_dataset
from mlstrat.mismatch import exports, selectors, services
from mlstrat.mismatch.characteristics import CHARACTERISTICS
from mlstrat.mismatch.models import (
    CharacteristicReview,
    JobStatus,
    OverlaySet,
    SynthesisJob,
    SynthesisRecipe,
)
from mlstrat.mismatch.transforms import MATCH, SPECS
from mlstrat.web.params import id_from
from mlstrat.web.views.projects import project_for


def _dataset(request, slug, dataset_pk, role=Role.ANNOTATOR):
    project, membership = project_for(request, slug, role=role)
    dataset = get_object_or_404(Dataset, pk=dataset_pk, project=project)
    return project, membership, dataset


def _errors(request, exc: ValidationError) -> None:
    for field_errors in (
        exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
    ).values():
        for message in field_errors:
            messages.error(request, message)


def _suggested_transform(headline) -> dict | None:
    """The transform that mimics the headline difference, matched to dev."""
    if not headline or headline["direction"] == "":
        return None
    name, direction = headline["characteristic"], headline["direction"]
    table = {
        ("sharpness", "lower"): ("GaussianBlur", "sigma"),
        ("noise", "higher"): ("GaussNoise", "std_range"),
        ("brightness", "higher"): ("RandomBrightnessContrast", "brightness_limit"),
        ("brightness", "lower"): ("RandomBrightnessContrast", "brightness_limit"),
        ("contrast", "lower"): ("RandomBrightnessContrast", "contrast_limit"),
    }
    found = table.get((name, direction))
    if not found:
        return None
    return {
        "name": found[0],
        "params": {found[1]: MATCH},
        "label": f"{found[0]}({found[1]}={MATCH})",
    }


@login_required
@require_GET
def dataset_mismatch(request, slug, dataset_pk):
    project, membership, dataset = _dataset(request, slug, dataset_pk)
    runs = list(runs_for_dataset(dataset=dataset))
    run = None
    wanted = request.GET.get("run", "")
    if id_from(wanted):
        run = next((r for r in runs if r.pk == id_from(wanted)), None)
    run = run or (runs[-1] if runs else None)
    comparison = selectors.characteristics_comparison(dataset=dataset)
    is_lead = has_role(user=request.user, project=project, role=Role.LEAD)
    suggestion = _suggested_transform(comparison["headline"])
    return render(
        request,
        "mismatch/dataset.html",
        {
            "project": project,
            "membership": membership,
            "dataset": dataset,
            "runs": runs,
            "run": run,
            "comparison": comparison,
            "dev_vs_train": [
                f
                for f in comparison["findings"]
                if (f["subject"], f["reference"]) == ("dev", "train")
            ],
            "other_pairs": [
                f
                for f in comparison["findings"]
                if (f["subject"], f["reference"]) != ("dev", "train")
            ],
            "metadata": selectors.metadata_comparison(dataset=dataset),
            "errors": selectors.errors_comparison(run=run) if run else None,
            "reviews": selectors.reviews_for_dataset(dataset=dataset),
            "recipes": SynthesisRecipe.objects.filter(dataset=dataset).order_by("-created_at"),
            "overlay_sets": OverlaySet.objects.filter(dataset=dataset),
            "missing": services.characteristics_missing(dataset=dataset).count(),
            "is_lead": is_lead,
            "is_admin": has_role(user=request.user, project=project, role=Role.ADMIN),
            "suggestion": suggestion,
            "transform_names": list(SPECS),
            "suggestion_json": json.dumps(
                [{k: suggestion[k] for k in ("name", "params")}] if suggestion else []
            ),
            "chart_data": {
                "splitNames": selectors.SPLIT_NAMES,
                "characteristics": [
                    {k: c[k] for k in ("name", "label", "edges", "splits", "log_scale")}
                    for c in comparison["characteristics"]
                ],
            },
        },
    )


@login_required
@require_POST
def measure(request, slug, dataset_pk):
    _, _, dataset = _dataset(request, slug, dataset_pk, role=Role.ADMIN)
    missing = services.characteristics_backfill(dataset=dataset)
    messages.success(request, f"Measuring {missing} example(s); reload in a moment.")
    return redirect("mismatch-dataset", slug=slug, dataset_pk=dataset.pk)


# ---------------------------------------------------------------- train-vs-dev reviews


@login_required
@require_POST
def review_create(request, slug, dataset_pk):
    _, _, dataset = _dataset(request, slug, dataset_pk, role=Role.LEAD)
    try:
        size = int(request.POST.get("size", "50") or 50)
        seed = request.POST.get("seed", "").strip()
        review = services.characteristic_review_create(
            dataset=dataset,
            created_by=request.user,
            name=request.POST.get("name", ""),
            size=size,
            seed=int(seed) if seed else None,
            per_source=bool(request.POST.get("per_source")),
            blind=bool(request.POST.get("blind")),
        )
    except ValueError:
        messages.error(request, "Size and seed are whole numbers.")
        return redirect("mismatch-dataset", slug=slug, dataset_pk=dataset.pk)
    except ValidationError as exc:
        _errors(request, exc)
        return redirect("mismatch-dataset", slug=slug, dataset_pk=dataset.pk)
    messages.success(
        request, f"Review “{review.name}” started with {review.items.count()} examples."
    )
    return redirect("mismatch-review", slug=slug, dataset_pk=dataset.pk, char_review_pk=review.pk)


@login_required
@require_GET
def review_sheet(request, slug, dataset_pk, char_review_pk):
    project, membership, dataset = _dataset(request, slug, dataset_pk)
    review = get_object_or_404(CharacteristicReview, pk=char_review_pk, dataset=dataset)
    config = {
        "review": review.pk,
        "blind": review.blind,
        "me": request.user.pk,
        "rows": selectors.review_rows(review=review, user=request.user, reveal=False),
        "categories": selectors.review_categories(dataset_id=dataset.pk),
        "progress": selectors.review_progress(review=review, user=request.user),
        "api": {
            "items": reverse("characteristic-review-items", args=[review.pk]),
            "ticks": reverse("characteristic-review-ticks", args=[review.pk]),
            "nothing": reverse("characteristic-review-nothing", args=[review.pk]),
        },
    }
    return render(
        request,
        "mismatch/review_sheet.html",
        {
            "project": project,
            "membership": membership,
            "dataset": dataset,
            "review": review,
            "config": config,
        },
    )


@login_required
@require_GET
def review_figures(request, slug, dataset_pk, char_review_pk):
    project, membership, dataset = _dataset(request, slug, dataset_pk)
    review = get_object_or_404(CharacteristicReview, pk=char_review_pk, dataset=dataset)
    figures = selectors.review_figures(review=review)
    return render(
        request,
        "mismatch/review_figures.html",
        {
            "project": project,
            "membership": membership,
            "dataset": dataset,
            "review": review,
            "figures": figures,
            "chart_data": {
                "categories": [
                    {
                        "name": c["name"],
                        "color": c["color"],
                        "train": [c["train"]["share"], c["train"]["low"], c["train"]["high"]],
                        "dev": [c["dev"]["share"], c["dev"]["low"], c["dev"]["high"]],
                    }
                    for c in figures["categories"]
                ]
            },
        },
    )


# ---------------------------------------------------------------- overlays and recipes


@login_required
@require_POST
def overlay_upload(request, slug, dataset_pk):
    _, _, dataset = _dataset(request, slug, dataset_pk, role=Role.LEAD)
    try:
        overlay_set = services.overlay_set_create(
            dataset=dataset,
            name=request.POST.get("name", ""),
            files=request.FILES.getlist("files"),
            created_by=request.user,
        )
        messages.success(
            request, f"Overlay set “{overlay_set.name}”: {overlay_set.images.count()} images."
        )
    except ValidationError as exc:
        _errors(request, exc)
    return redirect("mismatch-dataset", slug=slug, dataset_pk=dataset.pk)


def _float(value):
    value = (value or "").strip()
    return float(value) if value else None


def _recipe_fields(post) -> dict:
    """The recipe form: a row per transform (include, match, low, high per parameter)."""
    transforms = []
    for name, spec in SPECS.items():
        if not post.get(f"t_{name}"):
            continue
        params = {}
        for param in spec.params:
            key = f"{name}__{param.name}"
            if post.get(f"{key}__match"):
                params[param.name] = MATCH
                continue
            low, high = _float(post.get(f"{key}__low")), _float(post.get(f"{key}__high"))
            if low is None and high is None:
                continue
            low = high if low is None else low
            high = low if high is None else high
            params[param.name] = [low, high]
        probability = _float(post.get(f"{name}__p"))
        transform = {"name": name, "params": params}
        if probability is not None:
            transform["p"] = probability
        transforms.append(transform)
    filters = {
        key: post.get(key).strip() for key in services.RECIPE_FILTERS if post.get(key, "").strip()
    }
    count = post.get("count", "").strip()
    seed = post.get("seed", "").strip()
    fields = {
        "name": post.get("name", ""),
        "transforms": transforms,
        "filters": filters,
        "count": int(count) if count else 1000,
    }
    if seed:
        fields["seed"] = int(seed)
    return fields


def _overlay_for(dataset, value):
    if not value:
        return None
    return get_object_or_404(OverlaySet, pk=id_from(value), dataset=dataset)


@login_required
@require_POST
def recipe_create(request, slug, dataset_pk):
    _, _, dataset = _dataset(request, slug, dataset_pk, role=Role.LEAD)
    try:
        if request.POST.get("t_choice"):
            fields = {
                "name": request.POST.get("name", ""),
                "transforms": [{"name": request.POST["t_choice"]}],
                "count": int(request.POST.get("count") or 1000),
            }
        elif request.POST.get("transforms_json"):
            fields = {
                "name": request.POST.get("name", ""),
                "transforms": json.loads(request.POST["transforms_json"]),
                "count": int(request.POST.get("count") or 1000),
            }
        else:
            fields = _recipe_fields(request.POST)
        recipe = services.recipe_create(
            dataset=dataset,
            created_by=request.user,
            overlay_set=_overlay_for(dataset, request.POST.get("overlay_set")),
            **fields,
        )
    except (ValueError, json.JSONDecodeError):
        messages.error(request, "Numbers only in count, seed and the parameters.")
        return redirect("mismatch-dataset", slug=slug, dataset_pk=dataset.pk)
    except ValidationError as exc:
        _errors(request, exc)
        return redirect("mismatch-dataset", slug=slug, dataset_pk=dataset.pk)
    return redirect("mismatch-recipe", slug=slug, dataset_pk=dataset.pk, recipe_pk=recipe.pk)


def _form_rows(recipe: SynthesisRecipe | None) -> list[dict]:
    chosen = {t["name"]: t for t in (recipe.transforms if recipe else [])}
    rows = []
    for name, spec in SPECS.items():
        transform = chosen.get(name)
        params = []
        for param in spec.params:
            value = transform["params"].get(param.name) if transform else None
            params.append(
                {
                    "name": param.name,
                    "key": f"{name}__{param.name}",
                    "matchable": bool(param.matches),
                    "matches": param.matches,
                    "match": value == MATCH,
                    "low": value[0] if isinstance(value, list) else param.default[0],
                    "high": value[1] if isinstance(value, list) else param.default[1],
                    "bounds": (param.low, param.high),
                }
            )
        rows.append(
            {
                "name": name,
                "doc": spec.doc,
                "on": transform is not None,
                "p": transform["p"] if transform else 1.0,
                "params": params,
                "needs_overlays": spec.needs_overlays,
            }
        )
    return rows


@login_required
def recipe_page(request, slug, dataset_pk, recipe_pk):
    project, membership, dataset = _dataset(request, slug, dataset_pk)
    recipe = get_object_or_404(SynthesisRecipe, pk=recipe_pk, dataset=dataset)
    is_lead = has_role(user=request.user, project=project, role=Role.LEAD)
    if request.method == "POST":
        _dataset(request, slug, dataset_pk, role=Role.LEAD)
        try:
            fields = _recipe_fields(request.POST)
            services.recipe_update(
                recipe=recipe,
                overlay_set=_overlay_for(dataset, request.POST.get("overlay_set")),
                **fields,
            )
            messages.success(request, "Recipe saved.")
        except ValueError:
            messages.error(request, "Numbers only in count, seed and the parameters.")
        except ValidationError as exc:
            _errors(request, exc)
        return redirect("mismatch-recipe", slug=slug, dataset_pk=dataset.pk, recipe_pk=recipe.pk)
    return render(
        request,
        "mismatch/recipe.html",
        {
            "project": project,
            "membership": membership,
            "dataset": dataset,
            "recipe": recipe,
            "is_lead": is_lead,
            "rows": _form_rows(recipe),
            "characteristics": CHARACTERISTICS,
            "pool_size": services.recipe_pool(dataset=dataset, filters=recipe.filters).count(),
            "overlay_sets": OverlaySet.objects.filter(dataset=dataset),
            "jobs": recipe.jobs.defer("plan")[:20],
            "labels": dataset.class_names,
            "config": {
                "preview": reverse("synthesis-recipe-preview", args=[recipe.pk]),
                "jobs": reverse("synthesis-recipe-jobs", args=[recipe.pk]),
                "jobPage": reverse("mismatch-job", args=[project.slug, 0]),
            },
        },
    )


@login_required
@require_POST
def recipe_delete(request, slug, dataset_pk, recipe_pk):
    _, _, dataset = _dataset(request, slug, dataset_pk, role=Role.LEAD)
    recipe = get_object_or_404(SynthesisRecipe, pk=recipe_pk, dataset=dataset)
    services.recipe_delete(recipe=recipe)
    messages.success(request, f"Recipe “{recipe.name}” deleted with its jobs.")
    return redirect("mismatch-dataset", slug=slug, dataset_pk=dataset.pk)


# ---------------------------------------------------------------- jobs


def _job(request, slug, synthesis_job_pk, role=Role.ANNOTATOR):
    project, membership = project_for(request, slug, role=role)
    job = get_object_or_404(
        SynthesisJob.objects.select_related("recipe__dataset"),
        pk=synthesis_job_pk,
        recipe__dataset__project=project,
    )
    return project, membership, job


@login_required
@require_GET
def job_page(request, slug, synthesis_job_pk):
    project, membership, job = _job(request, slug, synthesis_job_pk)
    return render(
        request,
        "mismatch/job.html",
        {
            "project": project,
            "membership": membership,
            "dataset": job.recipe.dataset,
            "job": job,
            "outcome": selectors.synthetic_outcome(job=job)
            if job.status == JobStatus.SUCCEEDED
            else [],
            "is_lead": has_role(user=request.user, project=project, role=Role.LEAD),
            "config": {
                "job": reverse("synthesis-job-detail", args=[job.pk]),
                "cancel": reverse("synthesis-job-cancel", args=[job.pk]),
                "resume": reverse("synthesis-job-resume", args=[job.pk]),
                "finished": job.is_finished,
            },
            "train_split": Split.TRAIN,
        },
    )


@login_required
@require_GET
def job_download(request, slug, synthesis_job_pk):
    _, _, job = _job(request, slug, synthesis_job_pk)
    if job.status != JobStatus.SUCCEEDED:
        messages.error(request, f"The job is {job.status}; no dump yet.")
        return redirect("mismatch-job", slug=slug, synthesis_job_pk=job.pk)
    return exports.dump_response(job)
