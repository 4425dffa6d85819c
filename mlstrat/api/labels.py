"""API for the labels concern (see mlstrat/labels/): proposals and decisions, the label
history and reverts, label checks, samples of correct predictions, likely-bad-label
scores, the dev/test balance, correction patterns and exports."""

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from mlstrat.accounts.models import Role
from mlstrat.accounts.permissions import require_member
from mlstrat.datasets.models import Dataset, Example, ModelRun, RunStatus, Split
from mlstrat.datasets.sampling import MAX_SEED
from mlstrat.labels import exports, ranking, selectors, services
from mlstrat.labels.models import (
    CheckOrigin,
    CheckOutcome,
    CorrectSample,
    CorrectSampleItem,
    LabelChange,
    LabelCheck,
    LabelCorrection,
    LabelScore,
)
from mlstrat.labels.tasks import label_scores_compute

from .filters import StrictAPIView, check_query_params
from .scoping import ProjectScopedViewSet, ScopedModelSerializer

LEAD_ROLES = [Role.LEAD, Role.ADMIN]


def _scoped(model, user, pk, project_path):
    """An object of the caller's projects, or 404."""
    return get_object_or_404(model, pk=pk, **{f"{project_path}__memberships__user": user})


def _int_param(request, name, *, required=True):
    value = request.query_params.get(name)
    if value is None and hasattr(request.data, "get"):
        value = request.data.get(name)
    if value in (None, ""):
        if required:
            raise ValidationError({name: ["This parameter is required."]})
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError({name: ["A whole number."]}) from exc


def _dataset_param(request) -> Dataset:
    pk = _int_param(request, "dataset")
    return _scoped(Dataset.objects.select_related("project"), request.user, pk, "project")


def _run_param(request) -> ModelRun:
    pk = _int_param(request, "run")
    runs = ModelRun.objects.filter(status=RunStatus.READY).select_related("dataset__project")
    return _scoped(runs, request.user, pk, "dataset__project")


# Proposals and decisions ------------------------------------------------------------


class CorrectionSerializer(ScopedModelSerializer):
    example_id = serializers.CharField(source="example.example_id", read_only=True)
    dataset = serializers.IntegerField(source="example.dataset_id", read_only=True)
    split = serializers.CharField(source="example.split", read_only=True)
    label_in_force = serializers.CharField(source="example.label", read_only=True)
    proposed_by = serializers.CharField(source="proposed_by.username", read_only=True)
    reviewed_by = serializers.CharField(
        source="reviewed_by.username", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = LabelCorrection
        fields = [
            "id",
            "example",
            "example_id",
            "dataset",
            "split",
            "run",
            "from_label",
            "label_in_force",
            "proposed_label",
            "reason",
            "status",
            "proposed_by",
            "proposed_at",
            "reviewed_by",
            "reviewed_at",
            "review_note",
            "version",
        ]
        read_only_fields = fields


class ProposeSerializer(serializers.Serializer):
    example = serializers.IntegerField()
    proposed_label = serializers.CharField(max_length=200)
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    run = serializers.IntegerField(required=False, allow_null=True, default=None)


class DecisionSerializer(serializers.Serializer):
    expected_version = serializers.IntegerField(
        help_text="The proposal's version you read; a stale one is refused with 409."
    )
    label = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="Accept with another label (edit).",
    )
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


def _conflict(exc: services.StaleDecision, serializer_class):
    return Response(
        {"detail": str(exc), "current": serializer_class(exc.current).data},
        status=status.HTTP_409_CONFLICT,
    )


class LabelCorrectionViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, ProjectScopedViewSet
):
    """Proposed labels. Any member proposes; leads accept (optionally with another label)
    or reject, sending the `version` they read: a decision on a stale version gets 409
    with the current state. Annotators see their own proposals; leads see all.
    `?example__task=` keeps one task's (a multi-task dataset)."""

    serializer_class = CorrectionSerializer
    queryset = LabelCorrection.objects.select_related(
        "example", "proposed_by", "reviewed_by"
    ).order_by("proposed_at", "id")
    project_path = "example__dataset__project"
    filterset_fields = {
        "status": ["exact"],
        "example": ["exact"],
        "example__dataset": ["exact"],
        "example__split": ["exact"],
        "example__task": ["exact"],
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return LabelCorrection.objects.none()
        user = self.request.user
        member = "example__dataset__project__memberships__"
        visible = Q(**{f"{member}user": user}) & (
            Q(proposed_by=user) | Q(**{f"{member}role__in": LEAD_ROLES})
        )
        return self.queryset.filter(visible)

    @extend_schema(request=ProposeSerializer, responses={201: CorrectionSerializer})
    def create(self, request):
        data = ProposeSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        example = _scoped(
            Example.objects.select_related("dataset__project"),
            request.user,
            data.validated_data["example"],
            "dataset__project",
        )
        run = None
        if data.validated_data["run"] is not None:
            run = get_object_or_404(
                ModelRun, pk=data.validated_data["run"], dataset=example.dataset
            )
        try:
            correction = services.correction_propose(
                example=example,
                proposed_label=data.validated_data["proposed_label"],
                proposed_by=request.user,
                reason=data.validated_data["reason"],
                run=run,
            )
        except services.InvalidLabel as exc:
            raise ValidationError({"proposed_label": [str(exc)]}) from exc
        return Response(CorrectionSerializer(correction).data, status=status.HTTP_201_CREATED)

    def _decide(self, request, decision):
        correction = self.get_object()
        require_member(
            user=request.user, project=correction.example.dataset.project, role=Role.LEAD
        )
        data = DecisionSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        kwargs = {
            "correction": correction,
            "reviewer": request.user,
            "expected_version": data.validated_data["expected_version"],
            "note": data.validated_data["note"],
        }
        if decision is services.correction_accept:
            kwargs["label"] = data.validated_data["label"] or None
        try:
            correction = decision(**kwargs)
        except services.StaleDecision as exc:
            return _conflict(exc, CorrectionSerializer)
        except services.InvalidLabel as exc:
            raise ValidationError({"label": [str(exc)]}) from exc
        correction.refresh_from_db()
        return Response(CorrectionSerializer(correction).data)

    @extend_schema(request=DecisionSerializer, responses={200: CorrectionSerializer})
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        return self._decide(request, services.correction_accept)

    @extend_schema(request=DecisionSerializer, responses={200: CorrectionSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self._decide(request, services.correction_reject)


# History and reverts ----------------------------------------------------------------


class ChangeSerializer(ScopedModelSerializer):
    example_id = serializers.CharField(source="example.example_id", read_only=True)
    changed_by = serializers.CharField(source="changed_by.username", read_only=True, default=None)
    reverted = serializers.BooleanField(read_only=True, default=False)

    class Meta:
        model = LabelChange
        fields = [
            "id",
            "example",
            "example_id",
            "from_label",
            "to_label",
            "reason",
            "correction",
            "reverts",
            "reverted",
            "changed_by",
            "changed_at",
        ]
        read_only_fields = fields


class RevertSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class LabelChangeViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ProjectScopedViewSet):
    """Every change of a label in force (who, when, from, to, why), oldest first. Leads
    revert the latest change of an example; the revert is a change of its own."""

    serializer_class = ChangeSerializer
    queryset = (
        LabelChange.objects.select_related("example", "changed_by")
        .annotate(reverted=Exists(LabelChange.objects.filter(reverts=OuterRef("pk"))))
        .order_by("changed_at", "id")
    )
    project_path = "example__dataset__project"
    filterset_fields = {"example": ["exact"], "example__dataset": ["exact"]}

    @extend_schema(request=RevertSerializer, responses={201: ChangeSerializer})
    @action(detail=True, methods=["post"])
    def revert(self, request, pk=None):
        change = self.get_object()
        require_member(user=request.user, project=change.example.dataset.project, role=Role.LEAD)
        data = RevertSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        try:
            revert = services.label_change_revert(
                change=change, by=request.user, reason=data.validated_data["reason"]
            )
        except services.StaleDecision as exc:
            exc.current = self.get_queryset().get(pk=exc.current.pk)
            return _conflict(exc, ChangeSerializer)
        return Response(ChangeSerializer(revert).data, status=status.HTTP_201_CREATED)


# Label checks -----------------------------------------------------------------------


class CheckSerializer(ScopedModelSerializer):
    example = serializers.IntegerField(source="example_id")
    run = serializers.IntegerField(source="run_id", required=False, allow_null=True)
    checked_by = serializers.CharField(source="checked_by.username", read_only=True, default=None)
    # Reads show every origin; a person records checks only from a review or the ranking
    # (samples and decisions record theirs through their own endpoints).
    origin = serializers.ChoiceField(choices=CheckOrigin.choices, default=CheckOrigin.RANKING)

    def validate_origin(self, value):
        if value not in (CheckOrigin.ERROR_REVIEW, CheckOrigin.RANKING):
            raise serializers.ValidationError(
                f"Record checks from {CheckOrigin.ERROR_REVIEW} or {CheckOrigin.RANKING}."
            )
        return value

    class Meta:
        model = LabelCheck
        fields = [
            "id",
            "example",
            "run",
            "outcome",
            "origin",
            "correction",
            "checked_by",
            "checked_at",
        ]
        read_only_fields = ["id", "outcome", "correction", "checked_by", "checked_at"]


class LabelCheckViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, ProjectScopedViewSet):
    """Records that a member looked at an example's label and found it right (to flag a
    wrong one, propose a correction). Checks count toward the dev/test balance."""

    serializer_class = CheckSerializer
    queryset = LabelCheck.objects.select_related("checked_by").order_by("checked_at", "id")
    project_path = "example__dataset__project"
    filterset_fields = {"example": ["exact"], "example__dataset": ["exact"], "outcome": ["exact"]}

    def create(self, request):
        data = CheckSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        example = _scoped(
            Example.objects.select_related("dataset__project"),
            request.user,
            data.validated_data["example_id"],
            "dataset__project",
        )
        run_id = data.validated_data.get("run_id")
        run = get_object_or_404(ModelRun, pk=run_id, dataset=example.dataset) if run_id else None
        check = services.label_check_record(
            example=example,
            checked_by=request.user,
            origin=data.validated_data["origin"],
            outcome=CheckOutcome.CONFIRMED,
            run=run,
        )
        return Response(CheckSerializer(check).data, status=status.HTTP_201_CREATED)


# Samples of correct predictions -----------------------------------------------------


class SampleSerializer(ScopedModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    estimate = serializers.SerializerMethodField()

    class Meta:
        model = CorrectSample
        fields = [
            "id",
            "run",
            "split",
            "size",
            "seed",
            "population",
            "created_by",
            "created_at",
            "estimate",
        ]
        read_only_fields = ["id", "population", "created_by", "created_at", "estimate"]

    def get_estimate(self, sample) -> dict:
        return selectors.sample_estimate(sample=sample)


class DrawSerializer(serializers.Serializer):
    run = serializers.IntegerField()
    split = serializers.ChoiceField(choices=Split.choices)
    size = serializers.IntegerField(min_value=1, max_value=services.MAX_SAMPLE_SIZE)
    seed = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=0, max_value=MAX_SEED
    )


class SampleItemSerializer(ScopedModelSerializer):
    example_id = serializers.CharField(source="example.example_id", read_only=True)
    label = serializers.CharField(source="example.label", read_only=True)
    outcome = serializers.SerializerMethodField()
    correction = serializers.SerializerMethodField()

    class Meta:
        model = CorrectSampleItem
        fields = ["id", "position", "example", "example_id", "label", "outcome", "correction"]

    def _check(self, item):
        return getattr(item, "label_check", None)

    def get_outcome(self, item) -> str | None:
        check = self._check(item)
        return check.outcome if check else None

    def get_correction(self, item) -> int | None:
        check = self._check(item)
        return check.correction_id if check else None


class SampleCheckSerializer(serializers.Serializer):
    item = serializers.IntegerField()
    outcome = serializers.ChoiceField(choices=CheckOutcome.choices)
    label = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class CorrectSampleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ProjectScopedViewSet):
    """Random samples of examples a run got right, for label review. Leads draw them
    (size of their choosing, seed stored); any member checks items: `confirmed`, or
    `corrected` with the label it should have (a proposal for a lead)."""

    serializer_class = SampleSerializer
    queryset = CorrectSample.objects.select_related("created_by").order_by("-created_at", "-id")
    project_path = "run__dataset__project"
    filterset_fields = ["run", "split"]

    @extend_schema(request=DrawSerializer, responses={201: SampleSerializer})
    def create(self, request):
        data = DrawSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        runs = ModelRun.objects.filter(status=RunStatus.READY).select_related("dataset__project")
        run = _scoped(runs, request.user, data.validated_data["run"], "dataset__project")
        require_member(user=request.user, project=run.dataset.project, role=Role.LEAD)
        try:
            sample = services.correct_sample_draw(
                run=run,
                split=data.validated_data["split"],
                size=data.validated_data["size"],
                seed=data.validated_data["seed"],
                created_by=request.user,
            )
        except services.InvalidSample as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        return Response(SampleSerializer(sample).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=SampleItemSerializer(many=True))
    @action(detail=True, methods=["get"])
    def items(self, request, pk=None):
        sample = self.get_object()
        page = self.paginate_queryset(selectors.sample_items(sample=sample))
        return self.get_paginated_response(SampleItemSerializer(page, many=True).data)

    @extend_schema(request=SampleCheckSerializer, responses=SampleItemSerializer)
    @action(detail=True, methods=["post"])
    def check(self, request, pk=None):
        sample = self.get_object()
        data = SampleCheckSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        item = get_object_or_404(CorrectSampleItem, pk=data.validated_data["item"], sample=sample)
        try:
            services.correct_sample_check(
                item=item,
                checked_by=request.user,
                outcome=data.validated_data["outcome"],
                label=data.validated_data["label"],
                reason=data.validated_data["reason"],
            )
        except services.InvalidLabel as exc:
            raise ValidationError({"label": [str(exc)]}) from exc
        item = selectors.sample_items(sample=sample).get(pk=item.pk)
        return Response(SampleItemSerializer(item).data)


# Likely bad labels ------------------------------------------------------------------


class ScoreSerializer(ScopedModelSerializer):
    example_id = serializers.CharField(source="example.example_id", read_only=True)

    class Meta:
        model = LabelScore
        fields = ["example", "example_id", "run", "split", "label", "self_confidence", "margin"]
        read_only_fields = fields


class LabelScoreViewSet(mixins.ListModelMixin, ProjectScopedViewSet):
    """Examples of a run ranked least likely label first (`?run=`, optional `split`,
    `example`, `method=self_confidence|margin`). Leads (re)compute a run's ranking with
    POST compute/ {"run": id}."""

    serializer_class = ScoreSerializer
    queryset = LabelScore.objects.all()
    project_path = "run__dataset__project"
    query_params_allowed = ("run", "split", "example", "method")

    @extend_schema(
        parameters=[
            OpenApiParameter("run", int, required=True),
            OpenApiParameter("split", str),
            OpenApiParameter("example", int),
            OpenApiParameter("method", str, enum=list(ranking.METHODS)),
        ]
    )
    def list(self, request):
        check_query_params(view=self, params=request.query_params)
        run = _run_param(request)
        method = request.query_params.get("method") or ranking.SELF_CONFIDENCE
        if method not in ranking.METHODS:
            raise ValidationError({"method": [f"One of {', '.join(ranking.METHODS)}."]})
        scores = selectors.label_scores(
            run=run, split=request.query_params.get("split", ""), method=method
        )
        example = _int_param(request, "example", required=False)
        if example is not None:
            scores = scores.filter(example_id=example)
        page = self.paginate_queryset(scores)
        return self.get_paginated_response(ScoreSerializer(page, many=True).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("run", int, required=True),
            OpenApiParameter("example", int, required=True),
        ],
        responses={200: dict},
    )
    @action(detail=False, methods=["get"], url_path="for-example")
    def for_example(self, request):
        """One example's score under a run, computed from its probabilities even before
        the run is ranked (what the sheet's large view shows)."""
        check_query_params(view=self, params=request.query_params)
        run = _run_param(request)
        example = get_object_or_404(run.dataset.examples, pk=_int_param(request, "example"))
        score = selectors.label_score_for(run=run, example=example)
        if score is None:
            raise ValidationError({"run": [f"{run.name} has no probabilities for this example."]})
        return Response(score)

    @extend_schema(request=None, responses={202: None})
    @action(detail=False, methods=["post"])
    def compute(self, request):
        run = _run_param(request)
        require_member(user=request.user, project=run.dataset.project, role=Role.LEAD)
        if not run.has_probabilities:
            raise ValidationError({"run": [f"{run.name} has no per-class probabilities."]})
        transaction.on_commit(lambda: label_scores_compute.delay(run_id=run.pk))
        return Response({"detail": f"Ranking {run.name}.", "run": run.pk}, status=202)


# Figures, patterns and exports ------------------------------------------------------


class BalanceView(StrictAPIView):
    """Per split (dev, test): examples, checked, corrected, and a warning when one split
    was examined more deeply than the other. `?dataset=`; on a multi-task dataset
    `&task=` for one task (the answer then also lists `tasks`: each task's balance)."""

    query_params_allowed = ("dataset", "task")

    @extend_schema(
        parameters=[
            OpenApiParameter("dataset", int, required=True),
            OpenApiParameter("task", str, description="a task of a multi-task dataset"),
        ],
        responses={200: dict},
    )
    def get(self, request):
        dataset = _dataset_param(request)
        task = request.query_params.get("task", "")
        if task and task not in dataset.tasks:
            raise ValidationError({"task": [f"Not a task of {dataset.name}."]})
        balance = selectors.correction_balance(dataset=dataset, task=task or None)
        if dataset.tasks:
            balance["tasks"] = selectors.correction_balance_per_task(dataset=dataset)
        return Response(balance)


class PatternsView(StrictAPIView):
    """Corrections in force grouped by (from, to) pair, per split: systematic labelling
    errors stand out. `?dataset=`"""

    query_params_allowed = ("dataset",)

    @extend_schema(
        parameters=[OpenApiParameter("dataset", int, required=True)], responses={200: dict}
    )
    def get(self, request):
        return Response({"pairs": selectors.correction_patterns(dataset=_dataset_param(request))})


class EstimateView(StrictAPIView):
    """The rate of bad labels among a run's correct predictions, from its samples, with a
    95% Wilson interval. `?run=` and optional `split`."""

    query_params_allowed = ("run", "split")

    @extend_schema(
        parameters=[OpenApiParameter("run", int, required=True), OpenApiParameter("split", str)],
        responses={200: dict},
    )
    def get(self, request):
        split = request.query_params.get("split", "")
        if split and split not in Split.values:
            raise ValidationError({"split": [f"One of {', '.join(Split.values)}."]})
        return Response(selectors.correct_sample_estimate(run=_run_param(request), split=split))


class ExportView(StrictAPIView):
    """The labels in force (or the change log) of a dataset, streamed as CSV or JSON;
    `?task=` for one task of a multi-task dataset."""

    query_params_allowed = ("task",)

    @extend_schema(
        parameters=[OpenApiParameter("task", str, description="one task's rows")],
        responses={200: bytes},
    )
    def get(self, request, dataset_pk, kind, fmt):
        dataset = _scoped(Dataset.objects.all(), request.user, dataset_pk, "project")
        task = request.query_params.get("task", "")
        if task and task not in dataset.tasks:
            raise ValidationError({"task": [f"Not a task of {dataset.name}."]})
        return exports.export_response(dataset=dataset, kind=kind, fmt=fmt, task=task or None)


def register(router):
    router.register("label-corrections", LabelCorrectionViewSet, basename="label-correction")
    router.register("label-changes", LabelChangeViewSet, basename="label-change")
    router.register("label-checks", LabelCheckViewSet, basename="label-check")
    router.register("correct-samples", CorrectSampleViewSet, basename="correct-sample")
    router.register("label-scores", LabelScoreViewSet, basename="label-score")


urlpatterns = [
    path("label-balance/", BalanceView.as_view(), name="api-label-balance"),
    path("label-patterns/", PatternsView.as_view(), name="api-label-patterns"),
    path("label-estimate/", EstimateView.as_view(), name="api-label-estimate"),
    *[
        path(
            f"label-exports/<int:dataset_pk>/{kind}.{fmt}",
            ExportView.as_view(),
            {"kind": kind, "fmt": fmt},
            name=f"api-label-export-{kind}-{fmt}",
        )
        for kind in exports.KINDS
        for fmt in exports.FORMATS
    ],
]
