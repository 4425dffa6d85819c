"""A finished synthesis job's dump as a zip streamed from storage: predictions.csv and
images/, in the import format, built while it is sent (nothing assembled on disk, flat
memory whatever the number of images)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator

from django.core.files.storage import default_storage
from django.http import StreamingHttpResponse

from .models import SynthesisJob
from .services import _image_name, output_example_id

READ_CHUNK = 1 << 16


class _Pipe:
    """A write-only, unseekable file: zipfile writes into it, the generator drains it."""

    def __init__(self):
        self.parts: list[bytes] = []
        self.position = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def drain(self) -> bytes:
        data = b"".join(self.parts)
        self.parts = []
        return data


def _members(job: SynthesisJob) -> Iterator[tuple[str, str, int]]:
    yield "predictions.csv", job.table_name, zipfile.ZIP_DEFLATED
    for index in range(job.total):
        example_id = output_example_id(recipe_name=job.recipe.name, job_pk=job.pk, index=index)
        # PNGs are compressed already: stored as they are.
        yield f"images/{example_id}.png", _image_name(job, example_id), zipfile.ZIP_STORED


def stream_dump(job: SynthesisJob) -> Iterator[bytes]:
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w") as archive:
        for arcname, stored, method in _members(job):
            info = zipfile.ZipInfo(arcname, date_time=job.finished_at.timetuple()[:6])
            info.compress_type = method
            info.external_attr = 0o644 << 16
            with default_storage.open(stored, "rb") as source, archive.open(info, "w") as out:
                while True:
                    block = source.read(READ_CHUNK)
                    if not block:
                        break
                    out.write(block)
                    if pipe.position and len(pipe.parts) > 16:
                        yield pipe.drain()
            yield pipe.drain()
    yield pipe.drain()


def dump_filename(job: SynthesisJob) -> str:
    return f"synthetic-{job.recipe.name}-job{job.pk}.zip"


def dump_response(job: SynthesisJob) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream_dump(job), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{dump_filename(job)}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
