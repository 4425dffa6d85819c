"""A finished synthesis job's dump as a zip streamed from storage: predictions.csv and
images/, in the import format, built while it is sent (nothing assembled on disk, flat
memory whatever the number of images)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator

from django.core.files.storage import default_storage
from django.http import StreamingHttpResponse

from mlstrat.downloads import content_disposition

from .models import SynthesisJob
from .services import images_name

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


def _copy(handle, archive: zipfile.ZipFile, info: zipfile.ZipInfo, pipe: _Pipe):
    with archive.open(info, "w") as out:
        while True:
            block = handle.read(READ_CHUNK)
            if not block:
                break
            out.write(block)
            if len(pipe.parts) > 16:
                yield pipe.drain()


def _info(name: str, job: SynthesisJob, method: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=job.finished_at.timetuple()[:6])
    info.compress_type = method
    info.external_attr = 0o644 << 16
    return info


def stream_dump(job: SynthesisJob) -> Iterator[bytes]:
    """predictions.csv, then every chunk's images, re-packed under images/ as they go."""
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w") as archive:
        with default_storage.open(job.table_name, "rb") as table:
            yield from _copy(
                table, archive, _info("predictions.csv", job, zipfile.ZIP_DEFLATED), pipe
            )
        yield pipe.drain()
        chunks = (job.total + job.chunk_size - 1) // job.chunk_size
        for chunk in range(chunks):
            with default_storage.open(images_name(job, chunk), "rb") as stored:
                with zipfile.ZipFile(stored) as source:
                    for member in source.infolist():
                        with source.open(member) as image:
                            # PNGs are compressed already: stored as they are.
                            info = _info(f"images/{member.filename}", job, zipfile.ZIP_STORED)
                            yield from _copy(image, archive, info, pipe)
                    yield pipe.drain()
    yield pipe.drain()


def dump_filename(job: SynthesisJob) -> str:
    return f"synthetic-{job.recipe.name}-job{job.pk}.zip"


def dump_response(job: SynthesisJob) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream_dump(job), content_type="application/zip")
    response["Content-Disposition"] = content_disposition(dump_filename(job))
    response["X-Content-Type-Options"] = "nosniff"
    return response
