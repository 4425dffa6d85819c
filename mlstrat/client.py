"""Push predictions to an mlstrat server from a notebook or a training script.

    from mlstrat.client import Client

    client = Client("https://mlstrat.example.com", token)
    job = client.push(
        df,                                # a pandas DataFrame, a pyarrow Table, or a path
        images=image_paths,                # one path or bytes per row (or an `image` column)
        probabilities=probs,               # numpy array, one row per example ...
        classes=["cat", "dog"],            # ... and one column per class
        project="cat-app", dataset="photos", run="resnet50-v3",
    )
    job["status"]  # "succeeded"

The table needs `example_id`, `label`, `prediction` and `split` columns (docs/import-
format.md); other columns are kept as metadata. `push` writes a dump (a zip holding
`predictions.parquet` and the images) to a temporary file, sends it in chunks that the
server stores one by one, so a dropped connection resumes where the server stands instead
of starting over, then starts the import and follows it to its end, with progress.

pandas and numpy are optional (`pip install mlstrat[notebook]`): a pyarrow Table or a dict
of columns work without them. `mlstrat push` (cli.py) uses this client.
"""

import io
import os
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import requests

CHUNK_BYTES = 8 * 1024 * 1024
POLL_SECONDS = 1.0
# Transient failures worth another try: the connection dropped, the server restarted.
RETRY_STATUSES = {502, 503, 504}
_EXTENSIONS = {
    b"\x89PNG": ".png",
    b"\xff\xd8\xff": ".jpg",
    b"GIF8": ".gif",
    b"BM": ".bmp",
}


class PushError(Exception):
    """The server refused a request (the reason is the message); `status` is its HTTP
    status, 0 when it could not be reached."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


class Client:
    def __init__(
        self,
        server: str,
        token: str,
        *,
        session: requests.Session | None = None,
        chunk_bytes: int = CHUNK_BYTES,
        retries: int = 10,
        backoff: float = 1.0,
    ):
        self.server = server.rstrip("/")
        self.session = session or requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        self.chunk_bytes = chunk_bytes
        self.retries = retries
        self.backoff = backoff

    # ------------------------------------------------------------------ the one call

    def push(
        self,
        data,
        *,
        project: str,
        dataset: str,
        run: str,
        images: Sequence | None = None,
        probabilities=None,
        classes: Sequence[str] | None = None,
        replace: bool = False,
        skip_invalid: bool = False,
        images_dir: str = "",
        wait: bool = True,
        progress: bool | Callable[[str, int, int], None] = True,
    ) -> dict:
        """Send a dump and start its import; with `wait`, follow it and return the job
        once finished (check `job["status"]`). `data` is a DataFrame, a pyarrow Table, a
        dict of columns, or a path (a zip, a folder holding the table and images, or a
        table whose images are on the server in `images_dir`). `progress`: True for bars
        on stderr, False for none, or a function called with (stage, done, total)."""
        report = _progress(progress)
        with tempfile.TemporaryDirectory(prefix="mlstrat-push-") as scratch:
            path = self.dump_file(
                data, images=images, probabilities=probabilities, classes=classes, scratch=scratch
            )
            upload = self.upload(
                path,
                project=project,
                dataset=dataset,
                run=run,
                replace=replace,
                progress=report,
            )
        job = self.start_import(
            upload=upload["id"],
            project=project,
            dataset=dataset,
            run=run,
            replace=replace,
            skip_invalid=skip_invalid,
            images_dir=images_dir,
        )
        if not wait:
            return job
        return self.wait(job, progress=report)

    # ------------------------------------------------------------------ the steps

    def upload(
        self,
        path,
        *,
        project: str,
        dataset: str = "",
        run: str = "",
        replace: bool = False,
        resume: str = "",
        progress=None,
    ) -> dict:
        """Send a file in chunks; returns the complete upload. `resume`: the id of an
        upload begun earlier (from another process), continued where the server stands."""
        report = _progress(progress)
        path = Path(path)
        size = path.stat().st_size
        if resume:
            upload = self._request("get", f"/api/v1/import-uploads/{resume}/")
        else:
            fields = {"project": project, "file_name": path.name, "size": size}
            if dataset and run:
                fields.update(dataset=dataset, run=run, replace=replace)
            upload = self._request("post", "/api/v1/import-uploads/", json=fields)
        url = f"/api/v1/import-uploads/{upload['id']}/"
        chunk = min(self.chunk_bytes, upload["chunk_max_bytes"])
        offset = upload["received"]
        failures = 0
        with path.open("rb") as handle:
            while offset < size:
                report("upload", offset, size)
                handle.seek(offset)
                body = handle.read(chunk)
                try:
                    response = self.session.patch(
                        self.server + url,
                        data=body,
                        headers={
                            "Upload-Offset": str(offset),
                            "Content-Type": "application/offset+octet-stream",
                        },
                        timeout=(10, 300),
                    )
                except requests.RequestException as exc:
                    response, failure = None, exc
                else:
                    failure = None
                if response is not None and response.status_code == 200:
                    offset, failures = response.json()["received"], 0
                    continue
                if response is not None and response.status_code == 409:
                    offset = response.json()["received"]  # the server holds more, or less
                    continue
                if response is not None and response.status_code not in RETRY_STATUSES:
                    raise PushError(_reason(response), response.status_code)
                failures += 1
                if failures > self.retries:
                    raise PushError(f"the upload kept failing ({failure or _reason(response)})")
                time.sleep(min(self.backoff * 2 ** (failures - 1), 30))
                # Where does the server stand? The chunk may have arrived before the drop.
                offset = self._request("get", url)["received"]
        report("upload", size, size)
        return self._request("get", url)

    def start_import(
        self,
        *,
        upload: str,
        project: str,
        dataset: str,
        run: str,
        replace: bool = False,
        skip_invalid: bool = False,
        images_dir: str = "",
    ) -> dict:
        fields = {
            "project": project,
            "dataset": dataset,
            "run": run,
            "upload": upload,
            "replace": replace,
            "skip_invalid": skip_invalid,
        }
        if images_dir:
            fields["images_dir"] = images_dir
        return self._request("post", "/api/v1/imports/", json=fields, expect=202)

    def job(self, job_id: int) -> dict:
        return self._request("get", f"/api/v1/imports/{job_id}/")

    def wait(self, job: dict, *, progress=None) -> dict:
        """Follow the job until it is finished (polling once a second)."""
        report = _progress(progress)
        while not job["is_finished"]:
            _report_job(report, job)
            time.sleep(POLL_SECONDS)
            job = self.job(job["id"])
        _report_job(report, job)
        report("done", 1, 1)
        return job

    # ------------------------------------------------------------------ helpers

    def _request(self, method: str, path: str, *, expect=None, **kwargs) -> dict:
        failures = 0
        while True:
            try:
                response = self.session.request(method, self.server + path, timeout=60, **kwargs)
            except requests.RequestException as exc:
                failures += 1
                if failures > self.retries:
                    raise PushError(f"cannot reach {self.server}: {exc}") from exc
                time.sleep(min(self.backoff * 2 ** (failures - 1), 30))
                continue
            if response.status_code in RETRY_STATUSES and failures < self.retries:
                failures += 1
                time.sleep(min(self.backoff * 2 ** (failures - 1), 30))
                continue
            wanted = expect or (201 if method == "post" else 200)
            if response.status_code not in (wanted, 200, 201):
                raise PushError(_reason(response), response.status_code)
            return response.json()

    def dump_file(
        self, data, *, scratch: str, images=None, probabilities=None, classes=None
    ) -> Path:
        if isinstance(data, str | os.PathLike):
            path = Path(data)
            if not path.exists():
                raise PushError(f"no such file or folder: {path}")
            if path.is_dir():
                target = Path(scratch) / f"{path.name or 'dump'}.zip"
                zip_folder(path, target)
                return target
            return path
        target = Path(scratch) / "dump.zip"
        write_dump(data, target, images=images, probabilities=probabilities, classes=classes)
        return target


# ---------------------------------------------------------------------- writing a dump


def write_dump(data, target: Path, *, images=None, probabilities=None, classes=None) -> None:
    """A dump zip from a table: `predictions.parquet` and one member per image."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = _as_arrow(data)
    rows = table.num_rows
    if probabilities is not None:
        table = _with_probabilities(table, probabilities, classes)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        if images is not None:
            if len(images) != rows:
                raise PushError(f"{len(images)} images for {rows} rows: give one per row.")
            names = []
            for n, image in enumerate(images):
                content = _image_content(image)
                name = f"images/{n:07d}{_extension(image, content)}"
                archive.writestr(name, content)
                names.append(name)
            if "image" in table.column_names:
                table = table.drop_columns(["image"])
            table = table.append_column("image", pa.array(names, pa.string()))
        elif "image" in table.column_names:
            # Paths on this machine: each file goes into the dump under a name of its own.
            names = []
            for n, source in enumerate(table.column("image").to_pylist()):
                content = _image_content(Path(source))
                name = f"images/{n:07d}{_extension(Path(source), content)}"
                archive.writestr(name, content)
                names.append(name)
            index = table.column_names.index("image")
            table = table.set_column(index, "image", pa.array(names, pa.string()))
        else:
            raise PushError("Give the images: `images=` (paths or bytes) or an `image` column.")
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        archive.writestr("predictions.parquet", buffer.getvalue())


def _as_arrow(data):
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, dict):
        return pa.table(data)
    if hasattr(data, "to_parquet") and hasattr(data, "columns"):  # a pandas DataFrame
        return pa.Table.from_pandas(data, preserve_index=False)
    raise PushError("Push a pandas DataFrame, a pyarrow Table, a dict of columns or a path.")


def _with_probabilities(table, probabilities, classes):
    import pyarrow as pa

    if classes is None:
        raise PushError("Name the classes of the probability columns: classes=[...].")
    values = probabilities.tolist() if hasattr(probabilities, "tolist") else list(probabilities)
    if len(values) != table.num_rows or any(len(row) != len(classes) for row in values):
        raise PushError(
            f"probabilities must be {table.num_rows} rows of {len(classes)} values "
            "(one row per example, one column per class)."
        )
    for index, name in enumerate(classes):
        column = pa.array([float(row[index]) for row in values], pa.float64())
        table = table.append_column(f"prob_{name}", column)
    return table


def _image_content(image) -> bytes:
    if isinstance(image, bytes | bytearray | memoryview):
        return bytes(image)
    return Path(image).read_bytes()


def _extension(image, content: bytes) -> str:
    if isinstance(image, Path | str) and Path(image).suffix:
        return Path(image).suffix.lower()
    for magic, extension in _EXTENSIONS.items():
        if content.startswith(magic):
            return extension
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return ".webp"
    return ".img"


def zip_folder(folder: Path, target: Path) -> None:
    """Zip a dump folder member by member (images are stored, the table compressed)."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            name = path.relative_to(folder).as_posix()
            is_table = name.startswith("predictions.") and not name.endswith(".parquet")
            archive.write(
                path, name, compress_type=zipfile.ZIP_DEFLATED if is_table else zipfile.ZIP_STORED
            )


# ---------------------------------------------------------------------- progress


def _reason(response) -> str:
    try:
        data = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(data, dict) and "detail" in data:
        return f"HTTP {response.status_code}: {data['detail']}"
    return f"HTTP {response.status_code}: {data}"


def _progress(progress) -> Callable[[str, int, int], None]:
    if callable(progress):
        return progress
    if not progress:
        return lambda stage, done, total: None
    return _Bars()


def _report_job(report, job: dict) -> None:
    total = job["rows_total"]
    report("checking rows", job["rows_validated"], total)
    if job["rows_written"]:
        report("writing rows", job["rows_written"], total)
    if job["thumbnails_total"]:
        report("thumbnails", job["thumbnails_done"], job["thumbnails_total"])


class _Bars:
    """A tqdm bar per stage on stderr."""

    def __init__(self):
        self.bars = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        if stage == "done":
            for bar in self.bars.values():
                bar.close()
            return
        bar = self.bars.get(stage)
        if bar is None:
            unit = "B" if stage == "upload" else "row"
            bar = self.bars[stage] = tqdm(
                desc=stage, total=total or None, unit=unit, unit_scale=stage == "upload"
            )
        if total and bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()
        if stage == "upload" and total and done >= total:
            bar.close()
