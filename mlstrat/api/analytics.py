"""API for the analytics concern (see mlstrat/analytics/): every dashboard figure,
runs compared, the lead's settings, and streamed exports."""

from django.shortcuts import get_object_or_404
from django.urls import path, re_path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from mlstrat.accounts.models import Role
from mlstrat.accounts.permissions import require_member
from mlstrat.analytics import exports, selectors, services
from mlstrat.analytics.models import TeamRule
from mlstrat.datasets import staleness
from mlstrat.datasets.models import Dataset
from mlstrat.datasets.selectors import visible_runs
from mlstrat.review.models import Review

from .filters import StrictAPIView

RULE_PARAM = OpenApiParameter(
    "rule",
    str,
    enum=TeamRule.values,
    description="How several annotators' ticks count (default: the dataset's team rule).",
)


TASK_PARAM = OpenApiParameter(
    "task",
    str,
    description="A multi-task dataset's task (default: its first task; the overview across "
    "tasks is always under `overview`). 400 for a task the dataset does not have.",
)


def _task(request, dataset) -> str:
    try:
        return selectors.task_for(dataset=dataset, task=request.query_params.get("task"))
    except selectors.UnknownTask as exc:
        raise serializers.ValidationError({"task": [str(exc)]}) from exc


def _run_for(request, pk):
    return get_object_or_404(visible_runs(user=request.user), pk=pk)


def _dataset_for(request, pk):
    return get_object_or_404(
        Dataset.objects.filter(project__memberships__user=request.user).select_related("project"),
        pk=pk,
    )


def _rule(request):
    rule = request.query_params.get("rule")
    if rule is not None and rule not in TeamRule.values:
        raise serializers.ValidationError({"rule": ["Use majority or any."]})
    return rule


class RunFiguresView(StrictAPIView):
    """Every figure of a run's dashboard: split errors (labels in force and original, over
    the examples whose label is known, with the coverage beside them),
    bias / variance / data mismatch with the largest gap and its remedies, the general
    table per source, error per source and class, confusion matrices, category shares
    per review under the team rule (n reviewed of N sampled, the "other" row) with 95%
    Wilson intervals, ceilings (E·f) and best errors if fixed (E·(1−f)), which idea first,
    the reference review that drives the headlines, and the label-error impact. `as_of`
    is when the figures were computed; `stale` says a recompute is pending. Rates are
    fractions (0.01 = 1%); a missing figure is null."""

    query_params_allowed = ("rule", "task")

    @extend_schema(parameters=[RULE_PARAM, TASK_PARAM], responses={200: OpenApiTypes.OBJECT})
    def get(self, request, pk):
        run = _run_for(request, pk)
        rule = _rule(request)
        task = _task(request, run.dataset)
        services.snapshot_ensure(run=run)
        return Response(selectors.run_figures(run=run, rule=rule, task=task))


class RunFiguresStatusView(StrictAPIView):
    """Whether a run's figures are ready and current: cheap enough to poll."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, pk):
        run = _run_for(request, pk)
        snap = services.snapshot_ensure(run=run)
        return Response(
            {
                "ready": snap.computed_at is not None,
                "as_of": snap.computed_at.isoformat() if snap.computed_at else None,
                "stale": snap.is_stale,
            }
        )


class RunRecomputeView(StrictAPIView):
    """Ask for a recompute of a run's figures now (leads). Answered at once; poll the
    figures until `stale` is false. 503 with a reason when the task queue is down."""

    @extend_schema(request=None, responses={202: OpenApiTypes.OBJECT, 503: OpenApiTypes.OBJECT})
    def post(self, request, pk):
        run = _run_for(request, pk)
        require_member(user=request.user, project=run.dataset.project, role=Role.LEAD)
        staleness.figures_recompute_now(run=run)
        return Response({"detail": "Recompute requested."}, status=status.HTTP_202_ACCEPTED)


class RunsComparedView(StrictAPIView):
    """A dataset's runs, oldest to newest: split errors, decomposition and category
    shares from each run's reference review (named, with its completeness), with the
    change since the run before."""

    query_params_allowed = ("rule", "task")

    @extend_schema(parameters=[RULE_PARAM, TASK_PARAM], responses={200: OpenApiTypes.OBJECT})
    def get(self, request, pk):
        dataset = _dataset_for(request, pk)
        task = _task(request, dataset)
        services.dataset_snapshots_ensure(dataset=dataset)
        return Response(selectors.runs_compared(dataset=dataset, rule=_rule(request), task=task))


class AnalysisSettingsSerializer(serializers.Serializer):
    team_rule = serializers.ChoiceField(choices=TeamRule.choices, required=False)
    human_level_error = serializers.FloatField(
        required=False, allow_null=True, min_value=0, max_value=1
    )
    human_level_error_by_source = serializers.DictField(
        child=serializers.FloatField(min_value=0, max_value=1), required=False
    )


class AnalysisSettingsView(StrictAPIView):
    """What a lead sets for a dataset's dashboards: the team rule (majority or any) and
    the human-level error, overall and per source (fractions: 0.01 = 1%)."""

    def _body(self, dataset):
        return {
            "team_rule": selectors.team_rule_for(dataset=dataset),
            "human_level_error": dataset.human_level_error,
            "human_level_error_by_source": dataset.human_level_error_by_source or {},
        }

    @extend_schema(responses=AnalysisSettingsSerializer)
    def get(self, request, pk):
        return Response(self._body(_dataset_for(request, pk)))

    @extend_schema(request=AnalysisSettingsSerializer, responses=AnalysisSettingsSerializer)
    def patch(self, request, pk):
        dataset = _dataset_for(request, pk)
        require_member(user=request.user, project=dataset.project, role=Role.LEAD)
        serializer = AnalysisSettingsSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if "team_rule" in data:
            services.team_rule_set(dataset=dataset, rule=data["team_rule"], user=request.user)
        if "human_level_error" in data or "human_level_error_by_source" in data:
            services.human_level_error_set(
                dataset=dataset,
                error=data.get("human_level_error", dataset.human_level_error),
                by_source=data.get("human_level_error_by_source"),
            )
        return Response(self._body(dataset))


class CSVRenderer(BaseRenderer):
    """Lets clients ask for text/csv; the export itself is a streamed response."""

    media_type = "text/csv"
    format = "csv"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return str(data).encode()


class RunExportView(StrictAPIView):
    """Download the sheet (one row per example: labels, prediction, who ticked each
    category, comments; `review=<id>` for one review, else every error of the run) or
    the summary figures, as CSV or JSON. Streamed. CSV cells that begin with = + - @,
    tab or CR are prefixed with an apostrophe against spreadsheet formula injection."""

    renderer_classes = [JSONRenderer, CSVRenderer]
    query_params_allowed = ("review", "rule", "task")

    @extend_schema(
        parameters=[
            OpenApiParameter("review", int, description="Export one review's examples."),
            RULE_PARAM,
            TASK_PARAM,
        ],
        responses={
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/json"): OpenApiTypes.OBJECT,
        },
    )
    def get(self, request, pk, kind, fmt):
        run = _run_for(request, pk)
        review = None
        if request.query_params.get("review"):
            try:
                review = Review.objects.get(run=run, pk=int(request.query_params["review"]))
            except (ValueError, Review.DoesNotExist) as exc:
                raise serializers.ValidationError(
                    {"review": ["No such review of this run."]}
                ) from exc
        # The sheet: one task's rows, or ("") every task's; the summary: one task's figures
        # (by default the first task's, as the dashboard).
        task = request.query_params.get("task", "")
        figures = None
        if kind == "summary":
            services.snapshot_ensure(run=run)
            figures = selectors.run_figures(
                run=run, rule=_rule(request), task=_task(request, run.dataset)
            )
        elif task:
            _task(request, run.dataset)  # 400 naming the dataset's tasks
        return exports.streaming_export(
            kind=kind, fmt=fmt, run=run, figures=figures, review=review, task=task
        )


def register(router):
    """This concern uses plain views (see urlpatterns), not router viewsets."""


urlpatterns = [
    path("analytics/runs/<int:pk>/", RunFiguresView.as_view(), name="api-run-figures"),
    path(
        "analytics/runs/<int:pk>/status/",
        RunFiguresStatusView.as_view(),
        name="api-run-figures-status",
    ),
    path(
        "analytics/runs/<int:pk>/recompute/",
        RunRecomputeView.as_view(),
        name="api-run-recompute",
    ),
    re_path(
        r"^analytics/runs/(?P<pk>\d+)/export/(?P<kind>sheet|summary)\.(?P<fmt>csv|json)$",
        RunExportView.as_view(),
        name="api-run-export",
    ),
    path(
        "analytics/datasets/<int:pk>/runs/",
        RunsComparedView.as_view(),
        name="api-runs-compared",
    ),
    path(
        "analytics/datasets/<int:pk>/settings/",
        AnalysisSettingsView.as_view(),
        name="api-analysis-settings",
    ),
]
