"""API for the imports concern (see mlstrat/imports/).

POST /api/v1/imports/ (multipart: project, dataset, run, file, replace, skip_invalid; or
server_path / images_dir under MLSTRAT_IMPORT_ROOTS) answers 202 with the job at once;
GET /api/v1/imports/<id>/ is the job's state, polled by the browser and `mlstrat push`.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from mlstrat.accounts.models import Project, Role
from mlstrat.accounts.permissions import require_member
from mlstrat.imports import services
from mlstrat.imports.models import ImportJob

from .errors import Conflict, ServiceUnavailable
from .scoping import ProjectScopedViewSet


class ImportJobSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    is_finished = serializers.BooleanField(read_only=True)

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "project",
            "dataset",
            "dataset_name",
            "run",
            "run_name",
            "created_by",
            "replace",
            "skip_invalid",
            "status",
            "is_finished",
            "message",
            "rows_total",
            "rows_validated",
            "rows_written",
            "rows_skipped",
            "thumbnails_total",
            "thumbnails_done",
            "thumbnails_failed",
            "errors",
            "error_count",
            "timings",
            "attempts",
            "lost_attempts",
            "heartbeat_at",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ImportJobCreateSerializer(serializers.Serializer):
    project = serializers.SlugField(help_text="The project's slug.")
    dataset = serializers.CharField(max_length=200, help_text="Existing or new dataset name.")
    run = serializers.CharField(max_length=200, help_text="Name of the model run.")
    file = serializers.FileField(required=False, help_text="A zip (table + images).")
    server_path = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    images_dir = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    replace = serializers.BooleanField(default=False)
    skip_invalid = serializers.BooleanField(default=False)


class ImportJobViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    ProjectScopedViewSet,
):
    """Import jobs of the caller's projects; admins start them, members follow them."""

    serializer_class = ImportJobSerializer
    queryset = ImportJob.objects.select_related("project", "created_by").order_by(
        "-created_at", "-id"
    )
    filterset_fields = ["project__slug", "status"]
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def retrieve(self, request, *args, **kwargs):
        # Reading an unfinished job notices a dead worker's attempt (its lease expired).
        job = self.get_object()
        if not job.is_finished and services.import_job_check_lease(job_id=job.pk):
            job.refresh_from_db()
        return Response(self.get_serializer(job).data)

    @extend_schema(
        request=ImportJobCreateSerializer,
        responses={202: ImportJobSerializer, 503: OpenApiTypes.OBJECT},
    )
    def create(self, request):
        incoming = ImportJobCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        project = get_object_or_404(Project, slug=data["project"])
        require_member(user=request.user, project=project, role=Role.ADMIN)
        try:
            job = services.import_job_create(
                project=project,
                user=request.user,
                dataset_name=data["dataset"],
                run_name=data["run"],
                upload=data.get("file"),
                server_path=data.get("server_path", ""),
                images_dir=data.get("images_dir", ""),
                replace=data["replace"],
                skip_invalid=data["skip_invalid"],
            )
        except services.RunExistsError as exc:
            raise Conflict(str(exc)) from exc
        except services.QueueUnavailable as exc:
            raise ServiceUnavailable(str(exc)) from exc
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        job.refresh_from_db()
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


def register(router):
    router.register("imports", ImportJobViewSet, basename="import")


urlpatterns = []
