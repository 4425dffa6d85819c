from rest_framework import mixins, serializers

from mlstrat.datasets.models import Dataset, Example, ModelRun, Prediction, RunStatus

from .pagination import KeysetPagination
from .permissions import AdminWrites, LeadWrites
from .scoping import ProjectScopedViewSet, ScopedModelSerializer


class DatasetSerializer(ScopedModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Dataset
        fields = [
            "id",
            "project",
            "name",
            "description",
            "class_names",
            "tasks",
            "task_class_names",
            "human_level_error",
            "human_level_error_by_source",
            "created_at",
        ]
        read_only_fields = [
            "id",
            "project",
            "name",
            "class_names",
            "tasks",
            "task_class_names",
            "created_at",
        ]

    def validate_human_level_error(self, value):
        if value is not None and not 0 <= value <= 1:
            raise serializers.ValidationError("A rate between 0 and 1 (0.01 = 1%).")
        return value

    def validate_human_level_error_by_source(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("An object of source name to rate.")
        for source, rate in value.items():
            if not isinstance(rate, int | float) or not 0 <= rate <= 1:
                raise serializers.ValidationError(f"{source}: a rate between 0 and 1.")
        return value


class DatasetViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    ProjectScopedViewSet,
):
    """Datasets of the caller's projects. Leads set the human-level error."""

    serializer_class = DatasetSerializer
    permission_classes = [LeadWrites]
    filterset_fields = ["project__slug"]

    queryset = Dataset.objects.select_related("project").order_by("id")


class RunSerializer(ScopedModelSerializer):
    class Meta:
        model = ModelRun
        fields = ["id", "dataset", "name", "notes", "has_probabilities", "imported_at"]
        read_only_fields = ["id", "dataset", "name", "has_probabilities", "imported_at"]


class RunViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    ProjectScopedViewSet,
):
    """Model runs (visible ones only), oldest first. Admins edit notes."""

    serializer_class = RunSerializer
    permission_classes = [AdminWrites]
    filterset_fields = ["dataset"]

    queryset = ModelRun.objects.filter(status=RunStatus.READY).order_by("imported_at", "id")
    project_path = "dataset__project"


class ExampleSerializer(ScopedModelSerializer):
    class Meta:
        model = Example
        fields = [
            "id",
            "dataset",
            "example_id",
            "task",
            "label",
            "original_label",
            "split",
            "source",
            "metadata",
        ]
        read_only_fields = fields


class ExampleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ProjectScopedViewSet):
    """Examples, paged by keyset (fast on millions of rows). Filter by dataset, split, source,
    label."""

    serializer_class = ExampleSerializer
    pagination_class = KeysetPagination
    filterset_fields = ["dataset", "split", "source", "label", "example_id", "task"]

    queryset = Example.objects.all()
    project_path = "dataset__project"


class PredictionSerializer(ScopedModelSerializer):
    example_id = serializers.CharField(source="example.example_id", read_only=True)
    label = serializers.CharField(source="example.label", read_only=True)

    class Meta:
        model = Prediction
        fields = [
            "id",
            "run",
            "example",
            "example_id",
            "split",
            "task",
            "label",
            "predicted_label",
            "confidence",
            "probabilities",
            "is_error",
        ]
        read_only_fields = fields


class PredictionViewSet(mixins.ListModelMixin, ProjectScopedViewSet):
    serializer_class = PredictionSerializer
    pagination_class = KeysetPagination
    filterset_fields = ["run", "split", "task", "is_error", "predicted_label"]

    queryset = Prediction.objects.filter(run__status=RunStatus.READY).select_related("example")
    project_path = "run__dataset__project"


def register(router):
    router.register("datasets", DatasetViewSet, basename="dataset")
    router.register("runs", RunViewSet, basename="run")
    router.register("examples", ExampleViewSet, basename="example")
    router.register("predictions", PredictionViewSet, basename="prediction")


urlpatterns = []
