"""API for the data-mismatch concern (see mlstrat/mismatch/ and docs/mismatch.md).

- GET  datasets/<id>/mismatch/ [?run=<id>]: characteristics per split and source, ranked
  distances, metadata mixes, and (with a run) dev errors vs correct. Members.
- POST datasets/<id>/mismatch/measure/: measure examples that have no characteristics
  (admins); 202 with how many.
- characteristic-reviews/: train-vs-dev reviews (members read and tick, leads create and
  delete); <id>/figures/, POST <id>/ticks/ {item, category, on}, <id>/nothing/ {item, on}.
- overlay-sets/: images blended by TemplateTransform (leads upload, multipart `files`).
- synthesis-recipes/: recipes (leads write); POST <id>/preview/ {count}, POST <id>/jobs/.
- synthesis-jobs/: progress, variety and later runs' outcome; POST <id>/cancel/,
  <id>/resume/ (leads); GET <id>/download/ streams the dump (members).
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count
from django.shortcuts import get_object_or_404
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from mlstrat.accounts.models import Role
from mlstrat.accounts.permissions import has_role, require_member
from mlstrat.datasets.models import Dataset, ModelRun, RunStatus
from mlstrat.mismatch import exports, selectors, services
from mlstrat.mismatch.models import (
    CharacteristicReview,
    CharacteristicReviewItem,
    JobStatus,
    OverlaySet,
    SynthesisJob,
    SynthesisRecipe,
)
from mlstrat.review.models import ErrorCategory

from .filters import StrictAPIView
from .permissions import LeadWrites, RolePermission
from .scoping import ProjectScopedViewSet, ScopedModelSerializer


def _service_errors(func):
    """Service ValidationErrors become 400s with their reasons."""

    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DjangoValidationError as exc:
            detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
            raise ValidationError(detail) from exc
        except services.TickError as exc:
            raise ValidationError({"detail": str(exc)}) from exc

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def _dataset_for(request, pk) -> Dataset:
    return get_object_or_404(
        Dataset.objects.filter(project__memberships__user=request.user).select_related("project"),
        pk=pk,
    )


def _int(value, name):
    if isinstance(value, bool):
        raise ValidationError({name: ["A whole number."]})
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError({name: ["A whole number."]}) from exc


# ---------------------------------------------------------------- comparison


class DatasetMismatchView(StrictAPIView):
    """How a dataset's splits differ: for each measured characteristic (brightness,
    contrast, sharpness, noise, colourfulness, width, height, aspect) the histograms per
    split and per split and source, the distances (KS, Wasserstein-1) ranked with a plain
    sentence each, the mix of `source` and metadata columns (total variation distance),
    and with ?run= that run's dev errors against its correct dev predictions."""

    query_params_allowed = ("run",)

    @extend_schema(
        parameters=[OpenApiParameter("run", int, description="A run of the dataset.")],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request, pk):
        dataset = _dataset_for(request, pk)
        body = {
            "dataset": dataset.pk,
            "characteristics": selectors.characteristics_comparison(dataset=dataset),
            "metadata": selectors.metadata_comparison(dataset=dataset),
        }
        run_id = request.query_params.get("run")
        if run_id is not None:
            run = get_object_or_404(
                ModelRun, pk=_int(run_id, "run"), dataset=dataset, status=RunStatus.READY
            )
            body["errors"] = selectors.errors_comparison(run=run)
        return Response(body)


class DatasetMeasureView(StrictAPIView):
    """Measure the examples of a dataset that have no characteristics yet (imported before
    they existed, or whose thumbnail pass failed). Admins. Answers 202 at once."""

    @extend_schema(request=None, responses={202: OpenApiTypes.OBJECT})
    def post(self, request, pk):
        dataset = _dataset_for(request, pk)
        require_member(user=request.user, project=dataset.project, role=Role.ADMIN)
        missing = services.characteristics_backfill(dataset=dataset)
        return Response({"missing": missing}, status=status.HTTP_202_ACCEPTED)


# ---------------------------------------------------------------- train-vs-dev reviews


class CharacteristicReviewSerializer(ScopedModelSerializer):
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    item_count = serializers.IntegerField(read_only=True)
    dataset = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = CharacteristicReview
        fields = [
            "id",
            "dataset",
            "name",
            "size",
            "seed",
            "per_source",
            "blind",
            "created_by",
            "created_at",
            "item_count",
        ]
        read_only_fields = ["id", "created_by", "created_at", "item_count"]
        extra_kwargs = {"seed": {"required": False}, "size": {"required": False}}


class TickSerializer(serializers.Serializer):
    item = serializers.IntegerField()
    category = serializers.IntegerField()
    on = serializers.BooleanField(default=True)


class NothingSerializer(serializers.Serializer):
    item = serializers.IntegerField()
    on = serializers.BooleanField(default=True)


class CharacteristicReviewViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    ProjectScopedViewSet,
):
    """Train-vs-dev reviews: seeded samples of training and dev examples, the same number
    from each, tagged with the dataset's categories whatever the model predicted. Leads
    start and delete them; every member ticks. In a blind review the split of each item
    is hidden (leads may ask `?reveal=1`)."""

    serializer_class = CharacteristicReviewSerializer
    query_params_allowed = ()  # the items action widens it (mlstrat.api.filters)
    permission_classes = [LeadWrites]
    filterset_fields = ["dataset"]
    project_path = "dataset__project"
    queryset = CharacteristicReview.objects.select_related(
        "created_by", "dataset__project"
    ).order_by("-created_at", "-id")

    def get_queryset(self):
        return super().get_queryset().annotate(item_count=Count("items", distinct=True))

    @_service_errors
    def create(self, request):
        dataset = _dataset_for(request, _int(request.data.get("dataset"), "dataset"))
        incoming = CharacteristicReviewSerializer(data=request.data, context={"request": request})
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        require_member(user=request.user, project=dataset.project, role=Role.LEAD)
        review = services.characteristic_review_create(
            dataset=dataset,
            created_by=request.user,
            name=data["name"],
            size=data.get("size", 50),
            seed=data.get("seed"),
            per_source=data.get("per_source", False),
            blind=data.get("blind", True),
        )
        review = self.get_queryset().get(pk=review.pk)
        return Response(self.get_serializer(review).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.characteristic_review_delete(review=instance)

    @extend_schema(
        parameters=[OpenApiParameter("reveal", str, description="1: show splits (leads).")],
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get"], query_params_allowed=("reveal",))
    def items(self, request, pk=None):
        """Every item with everyone's ticks and "nothing applies" marks."""
        review = self.get_object()
        reveal = request.query_params.get("reveal") == "1"
        if reveal and not has_role(
            user=request.user, project=review.dataset.project, role=Role.LEAD
        ):
            raise ValidationError({"reveal": ["Only leads reveal the splits of a blind review."]})
        return Response(
            {
                "rows": selectors.review_rows(review=review, user=request.user, reveal=reveal),
                "categories": selectors.review_categories(dataset_id=review.dataset_id),
                "progress": selectors.review_progress(review=review, user=request.user),
            }
        )

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["get"])
    def figures(self, request, pk=None):
        """Each category's share of reviewed train and dev items (95% Wilson intervals,
        z = 1.959963984540054) and dev minus train with Newcombe's interval; the most
        over-represented in dev first."""
        return Response(selectors.review_figures(review=self.get_object()))

    def _item(self, review, value):
        return get_object_or_404(CharacteristicReviewItem, pk=_int(value, "item"), review=review)

    def _review_for_marking(self):
        # Any member ticks (the permission of these two actions is membership).
        return self.get_object()

    @extend_schema(request=TickSerializer, responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    @_service_errors
    def ticks(self, request, pk=None):
        """Set (`on`: true) or clear one's tick of a category on an item."""
        review = self._review_for_marking()
        incoming = TickSerializer(data=request.data, context={"request": request})
        incoming.is_valid(raise_exception=True)
        item = self._item(review, incoming.validated_data["item"])
        category = get_object_or_404(
            ErrorCategory, pk=incoming.validated_data["category"], dataset=review.dataset
        )
        changed = services.characteristic_tick(
            item=item, category=category, user=request.user, on=incoming.validated_data["on"]
        )
        return Response({"changed": changed})

    @extend_schema(request=NothingSerializer, responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    @_service_errors
    def nothing(self, request, pk=None):
        """Mark (`on`: true) that no category applies to an item for you, or take it back."""
        review = self._review_for_marking()
        incoming = NothingSerializer(data=request.data, context={"request": request})
        incoming.is_valid(raise_exception=True)
        item = self._item(review, incoming.validated_data["item"])
        changed = services.characteristic_nothing(
            item=item, user=request.user, on=incoming.validated_data["on"]
        )
        return Response({"changed": changed})

    def get_permissions(self):
        if self.action in ("ticks", "nothing"):
            return [RolePermission()]
        return super().get_permissions()


# ---------------------------------------------------------------- overlays


class OverlaySetSerializer(ScopedModelSerializer):
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    image_count = serializers.SerializerMethodField()
    dataset = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = OverlaySet
        fields = ["id", "dataset", "name", "created_by", "created_at", "image_count"]
        read_only_fields = ["id", "created_by", "created_at", "image_count"]

    def get_image_count(self, obj) -> int:
        return obj.images.count()


class OverlaySetViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, ProjectScopedViewSet
):
    """Overlay images for TemplateTransform: leads upload `files` (images or a zip of
    images, multipart) with `dataset` and `name`."""

    serializer_class = OverlaySetSerializer
    permission_classes = [LeadWrites]
    filterset_fields = ["dataset"]
    project_path = "dataset__project"
    parser_classes = [MultiPartParser, FormParser]
    queryset = OverlaySet.objects.select_related("created_by").order_by("id")

    @_service_errors
    def create(self, request):
        dataset = _dataset_for(request, _int(request.data.get("dataset"), "dataset"))
        require_member(user=request.user, project=dataset.project, role=Role.LEAD)
        overlay_set = services.overlay_set_create(
            dataset=dataset,
            name=request.data.get("name", ""),
            files=request.FILES.getlist("files"),
            created_by=request.user,
        )
        return Response(self.get_serializer(overlay_set).data, status=status.HTTP_201_CREATED)


# ---------------------------------------------------------------- recipes


class RecipeSerializer(ScopedModelSerializer):
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    source_tag = serializers.CharField(read_only=True)
    pool_size = serializers.SerializerMethodField()
    dataset = serializers.PrimaryKeyRelatedField(read_only=True)
    overlay_set = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = SynthesisRecipe
        fields = [
            "id",
            "dataset",
            "name",
            "filters",
            "transforms",
            "count",
            "seed",
            "overlay_set",
            "source_tag",
            "pool_size",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "source_tag", "pool_size", "created_by", "created_at"]
        extra_kwargs = {"seed": {"required": False}}

    def get_pool_size(self, obj) -> int:
        try:
            return services.recipe_pool(dataset=obj.dataset, filters=obj.filters).count()
        except Exception:
            return 0


class PreviewSerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=1, max_value=48, default=12)
    check = serializers.IntegerField(min_value=0, max_value=400, default=100)


class RecipeViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    ProjectScopedViewSet,
):
    """Synthesis recipes: which training examples (filters: label, source,
    char_<characteristic>_min/_max), which transforms (Albumentations names and
    parameters; a parameter may be "match" to follow dev's measured distribution), how
    many outputs from which seed. Leads write; members read."""

    serializer_class = RecipeSerializer
    permission_classes = [LeadWrites]
    filterset_fields = ["dataset"]
    project_path = "dataset__project"
    queryset = SynthesisRecipe.objects.select_related(
        "dataset__project", "created_by", "overlay_set"
    ).order_by("id")

    def _fields(self, data, partial=False):
        fields = {}
        for name in ("name", "filters", "transforms", "count", "seed"):
            if name in data:
                fields[name] = data[name]
        if "overlay_set" in data:
            value = data["overlay_set"]
            fields["overlay_set"] = (
                None
                if value in (None, "")
                else get_object_or_404(
                    OverlaySet.objects.filter(
                        dataset__project__memberships__user=self.request.user
                    ),
                    pk=_int(value, "overlay_set"),
                )
            )
        return fields

    @_service_errors
    def create(self, request):
        dataset = _dataset_for(request, _int(request.data.get("dataset"), "dataset"))
        require_member(user=request.user, project=dataset.project, role=Role.LEAD)
        fields = self._fields(request.data)
        if "name" not in fields or "transforms" not in fields:
            raise ValidationError({"detail": ["A recipe needs a name and transforms."]})
        recipe = services.recipe_create(dataset=dataset, created_by=request.user, **fields)
        return Response(self.get_serializer(recipe).data, status=status.HTTP_201_CREATED)

    @_service_errors
    def update(self, request, pk=None, partial=False):
        recipe = self.get_object()
        recipe = services.recipe_update(recipe=recipe, **self._fields(request.data))
        return Response(self.get_serializer(recipe).data)

    def perform_destroy(self, instance):
        services.recipe_delete(recipe=instance)

    @extend_schema(request=PreviewSerializer, responses={200: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    @_service_errors
    def preview(self, request, pk=None):
        """The job's first `count` outputs exactly as the job will write them (PNG data
        URLs, each with its source and the parameters applied), and a check over `check`
        outputs: each matched characteristic's distance to dev before and after."""
        recipe = self.get_object()
        require_member(user=request.user, project=recipe.dataset.project, role=Role.LEAD)
        incoming = PreviewSerializer(data=request.data, context={"request": request})
        incoming.is_valid(raise_exception=True)
        return Response(
            selectors.recipe_preview(
                recipe=recipe,
                count=incoming.validated_data["count"],
                check=incoming.validated_data["check"],
            )
        )

    @extend_schema(request=None, responses={202: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    @_service_errors
    def jobs(self, request, pk=None):
        """Start a job: the plan is fixed now, chunks go to the workers."""
        recipe = self.get_object()
        require_member(user=request.user, project=recipe.dataset.project, role=Role.LEAD)
        job = services.synthesis_job_create(recipe=recipe, created_by=request.user)
        job.refresh_from_db()
        return Response(JobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


# ---------------------------------------------------------------- jobs


class JobSerializer(ScopedModelSerializer):
    recipe_name = serializers.CharField(source="recipe.name", read_only=True)
    is_finished = serializers.BooleanField(read_only=True)

    class Meta:
        model = SynthesisJob
        fields = [
            "id",
            "recipe",
            "recipe_name",
            "status",
            "is_finished",
            "message",
            "total",
            "done",
            "pool_size",
            "variety",
            "timings",
            "attempts",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class JobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ProjectScopedViewSet):
    """Synthesis jobs: progress (`done` of `total`), the variety report with its
    warnings, and `outcome`: each later run's error on the synthesized examples against
    real train, train-dev and dev."""

    serializer_class = JobSerializer
    permission_classes = [LeadWrites]
    filterset_fields = ["recipe", "status"]
    project_path = "recipe__dataset__project"
    queryset = (
        SynthesisJob.objects.select_related("recipe__dataset__project")
        .defer("plan")
        .order_by("-id")
    )

    def retrieve(self, request, pk=None):
        job = self.get_object()
        body = self.get_serializer(job).data
        body["outcome"] = selectors.synthetic_outcome(job=job) if job.status == "succeeded" else []
        return Response(body)

    def _lead_job(self):
        job = self.get_object()
        require_member(user=self.request.user, project=job.recipe.dataset.project, role=Role.LEAD)
        return job

    @extend_schema(request=None, responses={200: JobSerializer})
    @action(detail=True, methods=["post"])
    @_service_errors
    def cancel(self, request, pk=None):
        """Stop the job; chunks already written are kept (leads)."""
        job = services.synthesis_job_cancel(job=self._lead_job())
        return Response(self.get_serializer(job).data)

    @extend_schema(request=None, responses={200: JobSerializer})
    @action(detail=True, methods=["post"])
    @_service_errors
    def resume(self, request, pk=None):
        """Send again the chunks that are not done (after a worker died); safe to repeat."""
        job = services.synthesis_job_resume(job=self._lead_job())
        return Response(self.get_serializer(job).data)

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        """The dump (predictions.csv + images/), streamed; importable as it is."""
        job = self.get_object()
        if job.status != JobStatus.SUCCEEDED:
            raise ValidationError({"status": [f"The job is {job.status}; no dump yet."]})
        return exports.dump_response(job)


def register(router):
    router.register(
        "characteristic-reviews", CharacteristicReviewViewSet, basename="characteristic-review"
    )
    router.register("overlay-sets", OverlaySetViewSet, basename="overlay-set")
    router.register("synthesis-recipes", RecipeViewSet, basename="synthesis-recipe")
    router.register("synthesis-jobs", JobViewSet, basename="synthesis-job")


urlpatterns = [
    path("datasets/<int:pk>/mismatch/", DatasetMismatchView.as_view(), name="api-dataset-mismatch"),
    path(
        "datasets/<int:pk>/mismatch/measure/",
        DatasetMeasureView.as_view(),
        name="api-dataset-mismatch-measure",
    ),
]
