"""API for the review concern: reviews, the sheet's rows, categories, ticks, comments,
the changes feed and agreement. Thin: parse, check the role, call a service or selector.

Ticks are idempotent: `PUT`/`DELETE runs/<run>/examples/<example>/tags/<category>/`,
or `POST runs/<run>/tags/ {action: "set"|"clear", category, example | examples}`.
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action, api_view
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from mlstrat.accounts.models import Role
from mlstrat.accounts.permissions import has_role, require_member
from mlstrat.analytics.models import TeamRule
from mlstrat.analytics.selectors import split_error, team_rule_for
from mlstrat.datasets.models import Dataset, Example, ModelRun, RunStatus, Split
from mlstrat.datasets.sampling import MAX_SEED
from mlstrat.review import selectors, services
from mlstrat.review.models import (
    AssignmentMode,
    Comment,
    ErrorCategory,
    ReferenceReview,
    Review,
    SavedView,
)

from .accounts import VisibleUserField
from .filters import allow_query_params
from .permissions import LeadWrites, RolePermission
from .scoping import ProjectScopedViewSet, ScopedModelSerializer

User = get_user_model()


def _bad_query(func):
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except selectors.BadSheetQuery as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        except services.TagError as exc:
            raise ValidationError({"detail": str(exc)}) from exc
        except PermissionError as exc:
            raise PermissionDenied(str(exc)) from exc

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


class TagWriteSerializer(serializers.Serializer):
    """Documents the tick body; the view validates it with reasons a person can act on."""

    action = serializers.ChoiceField(choices=["set", "clear"])
    category = serializers.IntegerField()
    example = serializers.IntegerField(required=False)
    examples = serializers.ListField(child=serializers.IntegerField(), required=False)
    proposed_label = serializers.CharField(required=False)
    review = serializers.IntegerField(
        required=False,
        help_text="The review whose sheet the tick is made on: the examples must be in it, "
        "and the caller is marked as having reviewed them there.",
    )


class MarkWriteSerializer(serializers.Serializer):
    """`set`: the caller reviewed these examples (nothing applies unless they tick);
    `clear`: takes the mark back. Ticks are untouched."""

    action = serializers.ChoiceField(choices=["set", "clear"])
    example = serializers.IntegerField(required=False)
    examples = serializers.ListField(child=serializers.IntegerField(), required=False)


class CommentWriteSerializer(serializers.Serializer):
    example = serializers.IntegerField(required=False)
    text = serializers.CharField()
    review = serializers.IntegerField(required=False)


RULE_PARAMETER = OpenApiParameter(
    "rule",
    str,
    enum=TeamRule.values,
    description="How several people's reviews and ticks count (default: the dataset's).",
)


def _rule_for(request, dataset) -> str:
    rule = request.query_params.get("rule")
    if rule in (None, ""):
        return team_rule_for(dataset=dataset)
    if rule not in TeamRule.values:
        raise ValidationError({"rule": "Use majority or any."})
    return rule


def _example_ids(data) -> list[int]:
    """`example: id` or `examples: [ids]` (1 to 1000), as numbers."""
    if "examples" in data:
        ids = data["examples"]
        if not isinstance(ids, list) or not ids or len(ids) > 1000:
            raise ValidationError({"examples": "A list of 1 to 1000 example ids."})
    else:
        ids = [data.get("example")]
    try:
        return [int(i) for i in ids]
    except (TypeError, ValueError) as exc:
        raise ValidationError({"examples": "Example ids are numbers."}) from exc


# Every key SheetQuery.from_params reads (the strict filter backend refuses others).
SHEET_QUERY_PARAMS = (
    "label",
    "prediction",
    "source",
    "task",
    "category",
    "untagged",
    "assignee",
    "sort",
    "after",
    "cursor",
    "view",
    "split",
    "open",
    # Ranges on measured image characteristics (char_sharpness_min, ...).
    *selectors.characteristic_params(),
)
SHEET_PARAMETERS = [
    OpenApiParameter(name, str, description=description)
    for name, description in [
        ("label", "given label"),
        ("prediction", "predicted label"),
        ("source", "source of the example"),
        ("task", "a task of a multi-task dataset: its errors only"),
        ("category", "category id: rows someone ticked with it"),
        ("untagged", "1: rows nobody ticked yet"),
        ("assignee", "me: my share of a split review"),
        ("sort", "confidence or -confidence"),
        ("after", "cursor from `next`"),
        ("view", "mine, team or agreement (only rows where annotators disagree)"),
        ("split", "split of a run's errors (default dev)"),
    ]
] + [
    OpenApiParameter(name, float, description="range on a measured image characteristic")
    for name in selectors.characteristic_params()
]


# ---------------------------------------------------------------- reviews


class ReviewSerializer(ScopedModelSerializer):
    annotators = VisibleUserField(many=True, required=False)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    sample_size = serializers.IntegerField(
        min_value=1,
        max_value=services.MAX_SAMPLE_SIZE,
        allow_null=True,
        required=False,
        default=100,
    )
    seed = serializers.IntegerField(
        min_value=0, max_value=MAX_SEED, allow_null=True, required=False, default=None
    )
    filters = serializers.JSONField(required=False, default=dict)
    split = serializers.ChoiceField(choices=Split.choices, default=Split.DEV)
    # One of the dataset's tasks, or "" for all of them (checked by the service).
    task = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    assignment = serializers.ChoiceField(
        choices=AssignmentMode.choices, default=AssignmentMode.EVERYONE
    )

    class Meta:
        model = Review
        fields = [
            "id",
            "run",
            "name",
            "split",
            "task",
            "sample_size",
            "seed",
            "filters",
            "assignment",
            "annotators",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["id", "created_by", "created_at"]


def _review_figures(request, review) -> dict:
    rule = _rule_for(request, review.run.dataset)
    return selectors.review_shares(
        review=review,
        rule=rule,
        error_rate=split_error(run=review.run, split=review.split, task=review.task),
    )


class ReviewViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    ProjectScopedViewSet,
):
    """Reviews of a run's errors. Any member starts one; a lead or its creator extends or
    deletes it. Filter with ?run=<id> (and ?task= on a multi-task dataset). The detail
    carries progress and the figures."""

    serializer_class = ReviewSerializer
    permission_classes = [RolePermission]
    filterset_fields = ["run", "task"]
    query_params_allowed = ()  # the rows and figures actions widen it (mlstrat.api.filters)
    queryset = Review.objects.select_related(
        "run__dataset__project", "created_by"
    ).prefetch_related("annotators")
    project_path = "run__dataset__project"

    def initial(self, request, *args, **kwargs):
        if self.action == "retrieve":
            self.query_params_allowed = ("rule",)
        super().initial(request, *args, **kwargs)

    @extend_schema(parameters=[RULE_PARAMETER], responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"], query_params_allowed=("rule",))
    def figures(self, request, pk=None):
        """The review's "k of n" under the team rule (named, with n reviewed of N
        sampled), each category's share with its 95% interval, ceiling (E·f) and best
        error if fixed (E·(1−f)), the "other (no category)" row, and which idea first."""
        review = self.get_object()
        return Response(_review_figures(request, review))

    @extend_schema(parameters=[RULE_PARAMETER], responses=OpenApiTypes.OBJECT)
    def retrieve(self, request, *args, **kwargs):
        """The review, its progress and its figures (as `figures` returns them)."""
        review = self.get_object()
        data = ReviewSerializer(review).data
        figures = _review_figures(request, review)
        data["progress"] = selectors.progress(run=review.run, review=review, rule=figures["rule"])
        data["figures"] = figures
        return Response(data)

    def destroy(self, request, *args, **kwargs):
        """Its creator or a lead deletes a review (its sample and reviewed marks; ticks
        and comments belong to the run and stay)."""
        review = self.get_object()
        if review.created_by_id != request.user.pk:
            require_member(user=request.user, project=review.run.dataset.project, role=Role.LEAD)
        services.review_delete(review=review)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=MarkWriteSerializer, responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["post"])
    @_bad_query
    def marks(self, request, pk=None):
        """`{action: "set"|"clear", example: id}` or `examples: [ids]`: the caller reviewed
        these examples of the review ("nothing applies" when they tick nothing), or takes
        the mark back. A tick or a comment made with `review` marks too."""
        review = self.get_object()
        action_ = request.data.get("action")
        if action_ not in ("set", "clear"):
            raise ValidationError({"action": "“set” or “clear”."})
        changed = services.marks_apply(
            review=review,
            examples=_example_ids(request.data),
            user=request.user,
            reviewed=action_ == "set",
        )
        return Response({"action": action_, "changed": {str(k): v for k, v in changed.items()}})

    def create(self, request, *args, **kwargs):
        serializer = ReviewSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        run = data["run"]
        require_member(user=request.user, project=run.dataset.project)
        review = services.review_create(
            run=run,
            created_by=request.user,
            name=data["name"],
            split=data["split"],
            task=data.get("task", ""),
            sample_size=data.get("sample_size"),
            seed=data.get("seed"),
            filters=data.get("filters"),
            assignment=data["assignment"],
            annotators=data.get("annotators", []),
        )
        return Response(ReviewSerializer(review).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def extend(self, request, pk=None):
        """Add `by` more errors (or `"by": null` for all the rest) in the same seeded order."""
        review = self.get_object()
        project = review.run.dataset.project
        if review.created_by_id != request.user.pk:
            require_member(user=request.user, project=project, role=Role.LEAD)
        by = request.data.get("by", 100)
        if by is not None and (not isinstance(by, int) or isinstance(by, bool)):
            raise ValidationError({"by": "A whole number, or null for all remaining errors."})
        added = services.review_extend(review=review, by=by)
        rule = team_rule_for(dataset=review.run.dataset)
        return Response(
            {
                "added": added,
                "progress": selectors.progress(run=review.run, review=review, rule=rule),
            }
        )

    @extend_schema(responses=OpenApiTypes.OBJECT, parameters=SHEET_PARAMETERS)
    @action(detail=True, methods=["get"], query_params_allowed=SHEET_QUERY_PARAMS)
    @_bad_query
    def rows(self, request, pk=None):
        """One page of the sheet: filters label, prediction, source, category, untagged=1,
        assignee=me, view=agreement; sort=confidence|-confidence; after=<cursor>."""
        review = self.get_object()
        return Response(_rows(request, run=review.run, review=review))

    @extend_schema(responses=OpenApiTypes.OBJECT)
    @action(detail=True, methods=["get"])
    def agreement(self, request, pk=None):
        review = self.get_object()
        return Response(selectors.agreement(run=review.run, review=review))


def _rows(request, *, run, review):
    query = selectors.SheetQuery.from_params(request.query_params)
    only = None
    if query.view == "agreement":
        only = set(selectors.agreement(run=run, review=review, split=query.split)["disagreements"])
    return selectors.sheet_rows(
        run=run, review=review, user=request.user, query=query, only_examples=only
    )


# ---------------------------------------------------------------- categories


class CategorySerializer(ScopedModelSerializer):
    class Meta:
        model = ErrorCategory
        fields = [
            "id",
            "dataset",
            "name",
            "key",
            "color",
            "description",
            "order",
            "archived",
            "builtin",
            "merged_into",
        ]
        read_only_fields = ["id", "order", "builtin", "merged_into"]
        extra_kwargs = {"name": {"validators": []}}
        validators = []


class CategoryMergeSerializer(serializers.Serializer):
    into = serializers.IntegerField(help_text="the category that receives the ticks")


class CategoryViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    ProjectScopedViewSet,
):
    """A dataset's error categories (the sheet's columns). Every member adds one midway
    (whoever tags notices a new pattern); admins and leads rename, re-key, recolour,
    reorder, archive and merge. Archiving hides a column and keeps its ticks; merging
    moves its ticks to another category. `free-key` proposes a key for a new one,
    `events` is the audit trail."""

    serializer_class = CategorySerializer
    permission_classes = [LeadWrites]
    filterset_fields = ["dataset", "archived"]
    query_params_allowed = ()  # free-key widens it (mlstrat.api.filters)
    queryset = ErrorCategory.objects.select_related("dataset__project").order_by("order", "id")
    project_path = "dataset__project"

    def _dataset(self, dataset_id, role=Role.LEAD):
        try:
            dataset_id = int(dataset_id)
        except (TypeError, ValueError) as exc:
            raise ValidationError({"dataset": "A dataset id."}) from exc
        dataset = get_object_or_404(
            Dataset.objects.select_related("project"),
            pk=dataset_id,
            project__memberships__user=self.request.user,
        )
        require_member(user=self.request.user, project=dataset.project, role=role)
        return dataset

    def create(self, request, *args, **kwargs):
        serializer = CategorySerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        dataset = self._dataset(data["dataset"].pk, role=Role.ANNOTATOR)
        category = services.category_create(
            dataset=dataset,
            name=data["name"],
            key=data.get("key", ""),
            color=data.get("color", "#4e79a7"),
            description=data.get("description", ""),
            created_by=request.user,
        )
        return Response(CategorySerializer(category).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        category = self.get_object()
        allowed = {"name", "key", "color", "description", "archived"}
        unknown = set(request.data) - allowed - {"id", "dataset", "order", "builtin", "merged_into"}
        if unknown:
            raise ValidationError({"detail": f"Cannot change {', '.join(sorted(unknown))}."})
        changes = {k: v for k, v in request.data.items() if k in allowed}
        if "archived" in changes and not isinstance(changes["archived"], bool):
            raise ValidationError({"archived": "true or false."})
        for name in ("name", "key", "color", "description"):
            if name in changes and not isinstance(changes[name], str):
                raise ValidationError({name: "A string."})
        category = services.category_update(category=category, user=request.user, **changes)
        return Response(CategorySerializer(category).data)

    @extend_schema(
        request=CategoryMergeSerializer,
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["post"])
    def merge(self, request, pk=None):
        """`{into: id}` (leads): move every tick of this category to `into`, archive this
        one, and write the merge to the audit trail. All or nothing."""
        source = self.get_object()
        serializer = CategoryMergeSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        target = get_object_or_404(
            ErrorCategory, pk=serializer.validated_data["into"], dataset_id=source.dataset_id
        )
        summary = services.category_merge(source=source, target=target, user=request.user)
        return Response(summary)

    @extend_schema(
        parameters=[
            OpenApiParameter("dataset", int, required=True),
            OpenApiParameter("name", str, description="the name typed so far"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["get"], url_path="free-key", query_params_allowed=("name",))
    def free_key(self, request):
        """A key no active category of the dataset holds (from the name's letters first)."""
        dataset = self._dataset(request.query_params.get("dataset"), role=Role.ANNOTATOR)
        name = request.query_params.get("name", "")[:100]
        return Response({"key": selectors.category_free_key(dataset_id=dataset.pk, name=name)})

    @extend_schema(
        parameters=[OpenApiParameter("dataset", int, required=True)],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=False, methods=["get"])
    def events(self, request):
        """The dataset's category audit trail, newest first (created, renamed, archived,
        restored, merged: who, when, and for a merge where the ticks went)."""
        dataset = self._dataset(request.query_params.get("dataset"), role=Role.ANNOTATOR)
        return Response(selectors.category_events(dataset_id=dataset.pk))

    @extend_schema(request=None)
    @action(detail=False, methods=["post"])
    def reorder(self, request):
        """`{dataset: id, order: [category ids]}`: the columns in this order."""
        dataset = self._dataset(request.data.get("dataset"))
        order = request.data.get("order")
        if not isinstance(order, list) or not all(isinstance(i, int) for i in order):
            raise ValidationError({"order": "A list of category ids."})
        categories = services.category_reorder(dataset=dataset, order=order)
        return Response(CategorySerializer(categories, many=True).data)


# ---------------------------------------------------------------- saved views


class SavedViewSerializer(ScopedModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    params = serializers.JSONField(required=False, default=dict)
    columns = serializers.JSONField(required=False, default=list)
    url = serializers.SerializerMethodField()

    class Meta:
        model = SavedView
        fields = [
            "id",
            "run",
            "review",
            "name",
            "params",
            "columns",
            "url",
            "created_by",
            "created_at",
        ]
        read_only_fields = ["id", "url", "created_by", "created_at"]
        validators = []

    def get_url(self, view) -> str:
        return selectors.saved_view_url(view, slug=view.run.dataset.project.slug)


class SavedViewViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    ProjectScopedViewSet,
):
    """Saved views of the sheet, shared with the project: a name, the sheet's filters and
    sort (`params`: label, prediction, source, category, untagged, assignee, sort, view,
    split, layout=gallery) and the category columns shown (`columns`: ids in order, []
    for all). `url` opens it. Any member saves one; its author or a lead deletes it.
    Filter with ?run=<id>."""

    serializer_class = SavedViewSerializer
    permission_classes = [RolePermission]
    filterset_fields = ["run", "review"]
    queryset = SavedView.objects.select_related("run__dataset__project", "created_by")
    project_path = "run__dataset__project"

    def create(self, request, *args, **kwargs):
        serializer = SavedViewSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        run = data["run"]
        require_member(user=request.user, project=run.dataset.project)
        if run.status != RunStatus.READY:
            raise ValidationError({"run": "This run is not imported yet."})
        view = services.saved_view_create(
            run=run,
            review=data.get("review"),
            name=data["name"],
            params=data.get("params") or {},
            columns=data.get("columns") or [],
            user=request.user,
        )
        return Response(SavedViewSerializer(view).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        view = self.get_object()
        project = view.run.dataset.project
        try:
            services.saved_view_delete(
                view=view,
                user=request.user,
                is_lead=has_role(user=request.user, project=project, role=Role.LEAD),
            )
        except PermissionError as exc:
            raise PermissionDenied(str(exc)) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- per-run endpoints


def _run_for(request, run_id) -> ModelRun:
    run = get_object_or_404(
        ModelRun.objects.select_related("dataset__project"),
        pk=run_id,
        status=RunStatus.READY,
        dataset__project__memberships__user=request.user,
    )
    require_member(user=request.user, project=run.dataset.project)
    return run


def _review_for(request, run):
    review_id = request.query_params.get("review") or (
        request.data.get("review") if isinstance(request.data, dict) else None
    )
    if review_id in (None, ""):
        return None
    if isinstance(review_id, bool):
        raise ValidationError({"review": "A review id."})
    try:
        review_id = int(review_id)
    except (TypeError, ValueError) as exc:
        raise ValidationError({"review": "A review id."}) from exc
    if not 0 < review_id < 2**63:
        raise ValidationError({"review": "A review id."})
    return get_object_or_404(Review, pk=review_id, run=run)


@extend_schema(request=None, responses=OpenApiTypes.OBJECT)
@api_view(["GET", "PUT", "DELETE"])
@allow_query_params()
def reference_review(request, run_id):
    """The review that drives the run's headlines. GET: which one, and whether a lead
    chose it; PUT `{review: id}` (leads) chooses it; DELETE (leads) goes back to the
    default, the unfiltered dev review with the most reviewed examples."""
    run = _run_for(request, run_id)
    if request.method != "GET":
        require_member(user=request.user, project=run.dataset.project, role=Role.LEAD)
        review = _review_for(request, run) if request.method == "PUT" else None
        if request.method == "PUT" and review is None:
            raise ValidationError({"review": "Which review (an id of this run's reviews)."})
        services.reference_review_set(run=run, review=review, user=request.user)
    chosen = ReferenceReview.objects.filter(run=run).select_related("review").first()
    return Response(
        {
            "run": run.pk,
            "chosen": chosen is not None,
            "review": chosen.review_id if chosen else None,
            "name": chosen.review.name if chosen else None,
            "default": "the unfiltered dev review with the most reviewed examples",
        }
    )


def _example_for(run, example_pk) -> Example:
    try:
        return get_object_or_404(Example, pk=int(example_pk), dataset_id=run.dataset_id)
    except (TypeError, ValueError) as exc:
        raise ValidationError({"example": "An example id."}) from exc


def _category_for(run, category_pk) -> ErrorCategory:
    try:
        return get_object_or_404(ErrorCategory, pk=int(category_pk), dataset_id=run.dataset_id)
    except (TypeError, ValueError) as exc:
        raise ValidationError({"category": "A category id."}) from exc


@extend_schema(responses=OpenApiTypes.OBJECT, parameters=SHEET_PARAMETERS)
@api_view(["GET"])
@allow_query_params(*SHEET_QUERY_PARAMS)
@_bad_query
def run_sheet_rows(request, run_id):
    """All of a run's errors on a split (?split=dev), with the sheet's filters and sort."""
    run = _run_for(request, run_id)
    return Response(_rows(request, run=run, review=None))


@extend_schema(request=TagWriteSerializer, responses=OpenApiTypes.OBJECT)
@api_view(["POST"])
@_bad_query
def tags_write(request, run_id):
    """`{action: "set"|"clear", category: id, example: id}` or `examples: [ids]` for bulk
    (one transaction). Ticking *Incorrectly labeled* needs `proposed_label`."""
    run = _run_for(request, run_id)
    category = _category_for(run, request.data.get("category"))
    review = _review_for(request, run)
    ids = _example_ids(request.data)
    examples = list(Example.objects.filter(pk__in=ids, dataset_id=run.dataset_id))
    if len(examples) != len(set(ids)):
        raise ValidationError({"examples": "Some examples are not in this run's dataset."})
    changed = services.tags_apply(
        run=run,
        examples=examples,
        category=category,
        user=request.user,
        action=request.data.get("action", ""),
        proposed_label=str(request.data.get("proposed_label") or ""),
        review=review,
    )
    return Response(
        {
            "action": request.data.get("action"),
            "category": category.pk,
            "changed": {str(k): v for k, v in changed.items()},
        }
    )


@extend_schema(
    request=None,
    responses=OpenApiTypes.OBJECT,
    parameters=[OpenApiParameter("review", int, description="the review whose sheet it is")],
)
@api_view(["PUT", "DELETE"])
@allow_query_params("review")
@_bad_query
def tag_one(request, run_id, example_pk, category_pk):
    """PUT sets the caller's tick, DELETE clears it; both idempotent. With `?review=`
    the caller is also marked as having reviewed the example in that review."""
    run = _run_for(request, run_id)
    example = _example_for(run, example_pk)
    category = _category_for(run, category_pk)
    review = _review_for(request, run)
    if request.method == "PUT":
        changed = services.tag_set(
            run=run,
            example=example,
            category=category,
            user=request.user,
            proposed_label=str(request.data.get("proposed_label") or ""),
            review=review,
        )
    else:
        changed = services.tag_clear(
            run=run, example=example, category=category, user=request.user, review=review
        )
    return Response({"ticked": request.method == "PUT", "changed": changed})


class CommentSerializer(ScopedModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = Comment
        fields = ["id", "example", "user", "username", "text", "created_at", "updated_at"]
        read_only_fields = fields


@extend_schema(request=CommentWriteSerializer, responses=CommentSerializer(many=True))
@api_view(["GET", "POST"])
@allow_query_params("example")
@_bad_query
def comments(request, run_id):
    """GET ?example=<id> lists comments; POST `{example, text}` adds one (`review`: on
    that review's sheet, which also marks the example reviewed by the author there)."""
    run = _run_for(request, run_id)
    if request.method == "POST":
        example = _example_for(run, request.data.get("example"))
        comment = services.comment_add(
            run=run,
            example=example,
            user=request.user,
            text=str(request.data.get("text") or ""),
            review=_review_for(request, run),
        )
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)
    found = Comment.objects.filter(run=run).select_related("user").order_by("id")
    if request.query_params.get("example"):
        found = found.filter(example=_example_for(run, request.query_params["example"]))
    return Response(CommentSerializer(found[:1000], many=True).data)


@extend_schema(request=CommentWriteSerializer, responses=CommentSerializer)
@api_view(["PATCH", "DELETE"])
@_bad_query
def comment_one(request, run_id, comment_pk):
    """Authors edit (`{text}`) or delete their own comments."""
    run = _run_for(request, run_id)
    comment = get_object_or_404(
        Comment.objects.select_related("run", "user"), pk=comment_pk, run=run
    )
    if request.method == "DELETE":
        services.comment_delete(comment=comment, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
    comment = services.comment_edit(
        comment=comment, user=request.user, text=str(request.data.get("text") or "")
    )
    return Response(CommentSerializer(comment).data)


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
@allow_query_params("since", "comments_since", "marks_since", "split", "review", "rule", "task")
@_bad_query
def changes(request, run_id):
    """Poll every few seconds: `?since=<last event id>&comments_since=<last comment id>
    &marks_since=<time from the last answer>` (`&review=<id>` or `&split=`) returns
    teammates' ticks, comments and reviewed marks, the categories, the footer (k of n
    under the team rule) and progress."""
    run = _run_for(request, run_id)
    review = _review_for(request, run)
    try:
        since = int(request.query_params.get("since") or 0)
        comments_since = int(request.query_params.get("comments_since") or 0)
    except ValueError as exc:
        raise ValidationError({"since": "Event and comment ids are numbers."}) from exc
    marks_since = None
    if request.query_params.get("marks_since"):
        try:
            marks_since = parse_datetime(request.query_params["marks_since"])
        except ValueError:
            marks_since = None
        if marks_since is None:
            raise ValidationError({"marks_since": "A time as the last answer gave it."})
    split = request.query_params.get("split") or Split.DEV
    if split not in Split.values:
        raise ValidationError({"split": f"One of {', '.join(Split.values)}."})
    task = request.query_params.get("task", "")
    if task and task not in run.dataset.tasks:
        raise ValidationError({"task": f"Not a task of {run.dataset.name}."})
    return Response(
        selectors.changes_since(
            run=run,
            review=review,
            since=since,
            comments_since=comments_since,
            marks_since=marks_since,
            rule=_rule_for(request, run.dataset),
            split=split,
            task=task,
        )
    )


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
@allow_query_params()
def example_detail(request, run_id, example_pk):
    """The large view: image URL, labels, top-5 probabilities, metadata, everyone's ticks
    and comments, and the example's predictions in the dataset's other runs."""
    run = _run_for(request, run_id)
    return Response(selectors.example_detail(run=run, example=_example_for(run, example_pk)))


@extend_schema(responses=OpenApiTypes.OBJECT)
@api_view(["GET"])
@allow_query_params("review", "split")
def agreement(request, run_id):
    """Per-category Fleiss' kappa and the examples annotators disagree on
    (`?review=<id>`, or all tagged errors of `?split=`)."""
    run = _run_for(request, run_id)
    review = _review_for(request, run)
    split = request.query_params.get("split") or Split.DEV
    if split not in Split.values:
        raise ValidationError({"split": f"One of {', '.join(Split.values)}."})
    return Response(selectors.agreement(run=run, review=review, split=split))


def can_manage_categories(*, user, project) -> bool:
    return has_role(user=user, project=project, role=Role.LEAD)


def register(router):
    router.register("reviews", ReviewViewSet, basename="review")
    router.register("categories", CategoryViewSet, basename="category")
    router.register("views", SavedViewViewSet, basename="saved-view")


urlpatterns = [
    path("runs/<int:run_id>/sheet/", run_sheet_rows, name="api-run-sheet"),
    path("runs/<int:run_id>/tags/", tags_write, name="api-tags"),
    path(
        "runs/<int:run_id>/examples/<int:example_pk>/tags/<int:category_pk>/",
        tag_one,
        name="api-tag",
    ),
    path("runs/<int:run_id>/examples/<int:example_pk>/", example_detail, name="api-example-detail"),
    path("runs/<int:run_id>/comments/", comments, name="api-comments"),
    path("runs/<int:run_id>/comments/<int:comment_pk>/", comment_one, name="api-comment"),
    path("runs/<int:run_id>/changes/", changes, name="api-changes"),
    path("runs/<int:run_id>/agreement/", agreement, name="api-agreement"),
    path("runs/<int:run_id>/reference-review/", reference_review, name="api-reference-review"),
]
