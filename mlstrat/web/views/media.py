"""Images and thumbnails, served only to members of the example's project.

The content type comes from the format Pillow found at import (only PNG, JPEG, GIF,
WEBP and BMP are accepted), never from the file name; responses forbid sniffing and
carry a sandboxing CSP, so a stored file can never run as a page.
"""

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from mlstrat.accounts.permissions import require_member
from mlstrat.datasets.images import (
    content_type_for,
    read_stored,
    sniff_content_type,
    storage_is_local,
)
from mlstrat.datasets.models import Example


@login_required
@require_GET
def example_image(request, pk, kind):
    example = get_object_or_404(Example.objects.select_related("dataset__project"), pk=pk)
    require_member(user=request.user, project=example.dataset.project)
    thumbnail = kind == "thumbnail" and example.thumbnail
    field = example.thumbnail if thumbnail else example.image
    if not field:
        raise Http404("No image stored for this example.")
    offset = example.thumbnail_offset if thumbnail else example.image_offset
    size = example.thumbnail_size if thumbnail else example.image_size
    if offset is not None and size is not None:
        # A packed image: its byte range of the pack (a ranged GET on S3).
        try:
            data = read_stored(field.name, offset, size)
        except FileNotFoundError as exc:
            raise Http404("The image file is missing from storage.") from exc
        return _safe(HttpResponse(data, content_type=sniff_content_type(data[:16])))
    if not storage_is_local():
        # Remote storage (S3): a short-lived signed URL, fetched by the browser directly.
        return HttpResponseRedirect(default_storage.url(field.name))
    try:
        handle = default_storage.open(field.name, "rb")
    except FileNotFoundError as exc:
        raise Http404("The image file is missing from storage.") from exc
    return _safe(FileResponse(handle, content_type=content_type_for(handle)))


def _safe(response):
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, max-age=86400"
    return response
