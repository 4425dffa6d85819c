"""API for the imports concern (see mlstrat/imports/).

POST /api/v1/imports/ (multipart: project, dataset, run, file, replace, skip_invalid; or
`upload`, the id of a complete chunked upload; or server_path / images_dir under
MLSTRAT_IMPORT_ROOTS) answers 202 with the job at once; GET /api/v1/imports/<id>/ is the
job's state, polled by the browser and `mlstrat push`.

Chunked, resumable uploads (mlstrat.client): POST /api/v1/import-uploads/ {project,
file_name, size} answers 201 with the upload; PATCH /api/v1/import-uploads/<id>/ with
`Upload-Offset: <n>` and the chunk as the body (application/offset+octet-stream) appends
it (409 with the offset held when n is not it); GET says how much arrived.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.parsers import BaseParser, FormParser, MultiPartParser
from rest_framework.response import Response

from mlstrat.accounts.models import Project, Role
from mlstrat.accounts.permissions import require_member
from mlstrat.imports import services, uploads
from mlstrat.imports.models import ImportJob, ImportUpload

from .errors import Conflict, ServiceUnavailable
from .parsers import StrictJSONParser
from .scoping import ProjectScopedViewSet, ScopedModelSerializer


class ImportJobSerializer(ScopedModelSerializer):
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
    upload = serializers.UUIDField(
        required=False, help_text="Instead of `file`: a complete chunked upload's id."
    )
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
    parser_classes = [MultiPartParser, FormParser, StrictJSONParser]

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
        incoming = ImportJobCreateSerializer(data=request.data, context={"request": request})
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        project = get_object_or_404(Project, slug=data["project"])
        require_member(user=request.user, project=project, role=Role.ADMIN)
        chunked = None
        if data.get("upload"):
            chunked = get_object_or_404(ImportUpload, pk=data["upload"], project=project)
        try:
            job = services.import_job_create(
                project=project,
                user=request.user,
                dataset_name=data["dataset"],
                run_name=data["run"],
                upload=data.get("file"),
                chunked_upload=chunked,
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


class ImportUploadSerializer(ScopedModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    is_complete = serializers.BooleanField(read_only=True)
    chunk_max_bytes = serializers.SerializerMethodField()

    class Meta:
        model = ImportUpload
        fields = [
            "id",
            "project",
            "file_name",
            "size",
            "received",
            "is_complete",
            "chunk_max_bytes",
            "created_at",
        ]
        read_only_fields = fields

    def get_chunk_max_bytes(self, upload) -> int:
        return uploads.CHUNK_MAX_BYTES


class ImportUploadCreateSerializer(serializers.Serializer):
    project = serializers.SlugField(help_text="The project's slug.")
    file_name = serializers.CharField(max_length=200, help_text="e.g. dump.zip")
    size = serializers.IntegerField(min_value=1, help_text="Bytes the upload will hold.")
    dataset = serializers.CharField(
        max_length=200, required=False, help_text="With `run`: refused at once (409) when taken."
    )
    run = serializers.CharField(max_length=200, required=False)
    replace = serializers.BooleanField(default=False)


class ChunkParser(BaseParser):
    """A chunk's bytes: read by the view from the request stream, never parsed."""

    media_type = "application/offset+octet-stream"

    def parse(self, stream, media_type=None, parser_context=None):
        return {}


class ImportUploadViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    ProjectScopedViewSet,
):
    """Chunked, resumable uploads of dumps (admins of the project)."""

    serializer_class = ImportUploadSerializer
    queryset = ImportUpload.objects.select_related("project").order_by("-created_at")
    filterset_fields = ["project__slug"]
    parser_classes = [StrictJSONParser, FormParser, MultiPartParser, ChunkParser]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_object(self):
        # Members of the project find it (others: 404); only its admins may use it (403).
        upload = super().get_object()
        require_member(user=self.request.user, project=upload.project, role=Role.ADMIN)
        return upload

    def list(self, request, *args, **kwargs):
        admin_of = request.user.memberships.filter(role=Role.ADMIN).values("project")
        self.queryset = self.queryset.filter(project__in=admin_of)
        return super().list(request, *args, **kwargs)

    @extend_schema(request=ImportUploadCreateSerializer, responses={201: ImportUploadSerializer})
    def create(self, request):
        incoming = ImportUploadCreateSerializer(data=request.data, context={"request": request})
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        project = get_object_or_404(Project, slug=data["project"])
        require_member(user=request.user, project=project, role=Role.ADMIN)
        if data.get("dataset") and data.get("run") and not data["replace"]:
            if services.run_name_taken(
                project=project, dataset_name=data["dataset"], run_name=data["run"]
            ):
                raise Conflict(
                    services.pipeline.run_exists_message(
                        run_name=data["run"], dataset_name=data["dataset"]
                    )
                )
        try:
            upload = uploads.import_upload_create(
                project=project, user=request.user, file_name=data["file_name"], size=data["size"]
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return Response(ImportUploadSerializer(upload).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request={"application/offset+octet-stream": OpenApiTypes.BINARY},
        parameters=[
            OpenApiParameter(
                "Upload-Offset",
                OpenApiTypes.INT,
                OpenApiParameter.HEADER,
                required=True,
                description="Where this chunk starts: the upload's `received`.",
            )
        ],
        responses={200: ImportUploadSerializer, 409: OpenApiTypes.OBJECT, 413: OpenApiTypes.OBJECT},
    )
    def partial_update(self, request, pk=None):
        upload = self.get_object()
        try:
            offset = int(request.headers.get("Upload-Offset", ""))
        except ValueError as exc:
            raise serializers.ValidationError(
                {"Upload-Offset": "Give the offset this chunk starts at (a whole number)."}
            ) from exc
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        try:
            upload = uploads.import_upload_append(
                upload_id=upload.pk, offset=offset, stream=request._request, length=length
            )
        except uploads.OffsetMismatch as exc:
            return Response(
                {"detail": str(exc), "received": exc.received}, status=status.HTTP_409_CONFLICT
            )
        except uploads.ChunkTooLarge as exc:
            raise RequestTooLarge(str(exc)) from exc
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return Response(ImportUploadSerializer(upload).data)

    def destroy(self, request, pk=None):
        uploads.import_upload_delete(upload=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "too_large"


def register(router):
    router.register("imports", ImportJobViewSet, basename="import")
    router.register("import-uploads", ImportUploadViewSet, basename="import-upload")


urlpatterns = []
