"""A run's dashboard and the runs of a dataset compared. Thin: figures come from
analytics selectors (snapshots computed by workers); writes go through analytics services."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from mlstrat.accounts.models import Role
from mlstrat.accounts.permissions import has_role
from mlstrat.analytics import exports, selectors, services
from mlstrat.analytics.figures import pct
from mlstrat.analytics.models import TeamRule
from mlstrat.datasets.models import Dataset
from mlstrat.labels import selectors as label_selectors
from mlstrat.review.models import Review
from mlstrat.web.params import id_from
from mlstrat.web.views.projects import project_for, run_for

# A heatmap a person can read; the API and the summary export have every class.
CONFUSION_LIMIT = 30


def _pick(value, choices, default):
    return value if value in choices else default


def _chart_data(figs, review, split):
    if not figs.get("ready"):
        return {}
    decomposition = figs["decomposition"]
    # Values printed on the chart are formatted here, like every number of the page.
    printed = {"human": pct(decomposition["levels"]["human"])}
    printed.update({t["key"]: pct(t["value"]) for t in decomposition["terms"]})
    return {
        "decomposition": decomposition,
        "printed": printed,
        "split": selectors.SPLIT_NAMES[split],
        "calibration": figs["calibration"].get(split),
        "review": review
        and {
            "name": review["name"],
            "categories": [
                {k: c[k] for k in ("name", "color", "share", "share_low", "share_high", "k", "n")}
                for c in review["categories"]
            ]
            + [{"name": "other (no category)", "color": selectors.OTHER_COLOR, **review["other"]}],
        },
    }


def _task(dataset, wanted) -> str:
    """The task a page shows (?task=, by default a multi-task dataset's first); 404 for a
    task the dataset does not have."""
    try:
        return selectors.task_for(dataset=dataset, task=wanted)
    except selectors.UnknownTask as exc:
        raise Http404(str(exc)) from exc


@login_required
@require_GET
def run_dashboard(request, slug, run_pk):
    project, membership, run = run_for(request, slug, run_pk)
    rule = request.GET.get("rule")
    rule = rule if rule in TeamRule.values else None
    split = _pick(request.GET.get("split"), ["train", "train_dev", "dev", "test"], "dev")
    task = _task(run.dataset, request.GET.get("task"))
    services.snapshot_ensure(run=run)
    figs = selectors.run_figures(
        run=run, rule=rule, confusion_splits=[split], confusion_limit=CONFUSION_LIMIT, task=task
    )
    reviews = figs.get("reviews", [])
    reference = figs.get("reference")
    by_id = {str(r["id"]): r for r in reviews}
    # The panel shows the reference review unless another is asked for (one click away);
    # the headlines always follow the reference.
    review = by_id.get(request.GET.get("review", "")) or (
        by_id.get(str(reference["id"])) if reference else None
    )
    if review is None and reviews:
        review = reviews[-1]
    headline = by_id.get(str(reference["id"])) if reference else None
    return render(
        request,
        "analytics/run_dashboard.html",
        {
            "project": project,
            "membership": membership,
            "run": run,
            "dataset": run.dataset,
            "figs": figs,
            "as_of": parse_datetime(figs["as_of"]) if figs.get("as_of") else None,
            "review": review,
            "headline": headline,
            "split": split,
            "is_lead": has_role(user=request.user, project=project, role=Role.LEAD),
            "rules": TeamRule.choices,
            "chart_data": _chart_data(figs, review, split),
            "label_quality": {
                "estimate": label_selectors.correct_sample_estimate(run=run),
                "balance": label_selectors.correction_balance(
                    dataset=run.dataset, task=task or None
                ),
            },
            "task": task,
            # What the task menu keeps when it switches task (a review is of one task).
            "keep": [(k, request.GET[k]) for k in ("split", "rule") if request.GET.get(k)],
            "split_names": list(selectors.SPLIT_NAMES.items()),
            "gap_names": {
                t["key"]: t["name"] for t in figs.get("decomposition", {}).get("terms", [])
            },
            "human_by_source": [
                (s, (run.dataset.human_level_error_by_source or {}).get(s))
                for s in figs.get("sources", [])
            ],
        },
    )


@login_required
@require_GET
def dataset_compare(request, slug, dataset_pk):
    project, membership = project_for(request, slug)
    dataset = get_object_or_404(Dataset, pk=dataset_pk, project=project)
    task = _task(dataset, request.GET.get("task"))
    services.dataset_snapshots_ensure(dataset=dataset)
    compared = selectors.runs_compared(dataset=dataset, task=task)
    return render(
        request,
        "analytics/dataset_compare.html",
        {
            "project": project,
            "membership": membership,
            "dataset": dataset,
            "compared": compared,
            "split_names": list(selectors.SPLIT_NAMES.items()),
            "chart_data": {
                "runs": [r["run"]["name"] for r in compared["runs"]],
                "splits": {
                    split: [r["splits"].get(split) for r in compared["runs"]]
                    for split in ("train", "train_dev", "dev", "test")
                },
                "categories": [
                    {
                        "name": name,
                        "color": compared["colors"].get(name, selectors.OTHER_COLOR),
                        "shares": [r["shares"].get(name) for r in compared["runs"]],
                    }
                    for name in compared["categories"]
                ],
            },
        },
    )


def _percent(value, field):
    """A percentage typed by a person ("1.5" or "1.5%") as a rate; "" means not set."""
    value = (value or "").strip().rstrip("%").strip()
    if not value:
        return None
    try:
        number = float(value)
    except ValueError as exc:
        raise ValueError(f"{field}: write a percentage such as 1.5") from exc
    if not 0 <= number <= 100:
        raise ValueError(f"{field}: a percentage between 0 and 100.")
    return number / 100


@login_required
@require_POST
def analysis_settings(request, slug, dataset_pk):
    """Leads set the team rule and the human-level error from the dashboard."""
    project, _ = project_for(request, slug, role=Role.LEAD)
    dataset = get_object_or_404(Dataset, pk=dataset_pk, project=project)
    back = request.POST.get("next", "")
    if "team_rule" in request.POST:
        try:
            services.team_rule_set(
                dataset=dataset, rule=request.POST["team_rule"], user=request.user
            )
            messages.success(request, f"Team rule: {TeamRule(request.POST['team_rule']).label}.")
        except ValueError as exc:
            messages.error(request, str(exc))
    if "human_level_error" in request.POST:
        try:
            error = _percent(request.POST["human_level_error"], "Human-level error")
            by_source = {}
            for key, value in request.POST.items():
                if key.startswith("human_source:"):
                    source = key.removeprefix("human_source:")
                    rate = _percent(value, f"Human-level error for {source}")
                    if rate is not None:
                        by_source[source] = rate
            services.human_level_error_set(dataset=dataset, error=error, by_source=by_source)
            messages.success(request, "Human-level error saved.")
        except ValueError as exc:
            messages.error(request, str(exc))
    if url_has_allowed_host_and_scheme(back, allowed_hosts=None) and back.startswith("/"):
        return redirect(back)
    return redirect("dataset-compare", slug=slug, dataset_pk=dataset.pk)


@login_required
@require_GET
def run_export(request, slug, run_pk, kind, fmt):
    _, _, run = run_for(request, slug, run_pk)
    review = None
    wanted = request.GET.get("review", "")
    if wanted:
        review = Review.objects.filter(run=run, pk=id_from(wanted)).first()
        if review is None:
            raise Http404("No such review of this run.")
    # The sheet: one task's rows, or ("") every task's; the summary: one task's figures
    # (by default the first task's, as the dashboard).
    task = request.GET.get("task", "")
    figures = None
    if kind == "summary":
        services.snapshot_ensure(run=run)
        figures = selectors.run_figures(run=run, task=_task(run.dataset, task))
    elif task:
        _task(run.dataset, task)  # 404 for a task the dataset does not have
    return exports.streaming_export(
        kind=kind, fmt=fmt, run=run, figures=figures, review=review, task=task
    )
