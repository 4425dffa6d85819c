"""`mlstrat.client` against a live server: push a DataFrame or an Arrow table with images
and probabilities from a notebook, follow the job with progress, and resume an upload
whose connection dropped without sending any byte twice."""

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import requests
from PIL import Image

from mlstrat.client import Client, PushError
from mlstrat.datasets.images import image_bytes
from mlstrat.datasets.models import Example, ModelRun, Prediction, RunStatus
from mlstrat.imports.models import ImportJob, ImportUpload
from tests.factories import api_token

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def token(alice):
    return api_token(alice)


def png(color, size=(24, 16)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return buffer.getvalue()


def frame(n=6):
    return pd.DataFrame(
        {
            "example_id": [f"n{i}" for i in range(n)],
            "label": ["cat" if i % 2 else "dog" for i in range(n)],
            "prediction": ["cat"] * n,
            "split": ["dev", "test", "train", "dev", "train_dev", "test"][:n],
            "camera": ["pixel"] * n,
        }
    )


def test_a_notebook_pushes_a_dataframe_with_image_bytes_and_probabilities(live_server, token):
    df = frame()
    probabilities = np.array([[0.2, 0.8]] * len(df))
    stages = []
    job = Client(live_server.url, token).push(
        df,
        images=[png((i * 40, 10, 10)) for i in range(len(df))],
        probabilities=probabilities,
        classes=["dog", "cat"],
        project="cat-app",
        dataset="photos",
        run="resnet",
        progress=lambda stage, done, total: stages.append((stage, done, total)),
    )
    assert job["status"] == "succeeded", job
    assert job["rows_written"] == 6
    run = ModelRun.objects.get(status=RunStatus.READY, name="resnet")
    assert run.has_probabilities
    example = Example.objects.get(example_id="n1")
    assert (example.label, example.split, example.metadata) == ("cat", "test", {"camera": "pixel"})
    assert example.predictions.get().probabilities == {"dog": 0.2, "cat": 0.8}
    with Image.open(io.BytesIO(image_bytes(example=example))) as image:
        assert image.getpixel((0, 0)) == (40, 10, 10)
    uploads = [(done, total) for stage, done, total in stages if stage == "upload"]
    assert uploads[-1][0] == uploads[-1][1] > 0
    assert ("done", 1, 1) in stages
    assert not ImportUpload.objects.exists()  # its chunks are gone with the job's upload


def test_an_arrow_table_with_image_paths(live_server, token, tmp_path):
    paths = []
    for i in range(3):
        path = tmp_path / f"photo{i}.png"
        path.write_bytes(png("teal"))
        paths.append(str(path))
    table = pa.table(
        {
            "example_id": ["a", "b", "c"],
            "image": paths,
            "label": ["1", "2", "1"],
            "prediction": ["1", "1", "1"],
            "split": ["dev", "dev", "test"],
            "confidence": [0.9, 0.55, 0.7],
        }
    )
    job = Client(live_server.url, token).push(
        table, project="cat-app", dataset="digits", run="v1", progress=False
    )
    assert job["status"] == "succeeded", job
    assert Prediction.objects.filter(is_error=True).count() == 1


def test_bad_rows_come_back_as_row_errors(live_server, token):
    df = frame(3)
    df.loc[1, "split"] = "holdout"
    job = Client(live_server.url, token).push(
        df,
        images=[png("red")] * 3,
        project="cat-app",
        dataset="photos",
        run="v1",
        progress=False,
    )
    assert job["status"] == "failed"
    assert job["errors"] == [
        {
            "line": 3,
            "column": "split",
            "message": "unknown split 'holdout': use train, train_dev, dev or test",
        }
    ]


class DropsAfterSending(requests.Session):
    """Sends the second chunk to the server, then loses the answer (the connection dropped
    after the server stored it), and drops the fourth before sending it."""

    def __init__(self):
        super().__init__()
        self.patches = 0

    def request(self, method, url, *args, **kwargs):
        if method.upper() == "PATCH":
            self.patches += 1
            if self.patches == 4:
                raise requests.ConnectionError("connection reset before sending")
            response = super().request(method, url, *args, **kwargs)
            if self.patches == 2:
                raise requests.ConnectionError("connection reset after sending")
            return response
        return super().request(method, url, *args, **kwargs)


def test_an_upload_whose_connection_drops_resumes_where_the_server_stands(
    live_server, token, monkeypatch
):
    from mlstrat.imports import uploads

    stored = []
    real_append = uploads.import_upload_append

    def counting(*, upload_id, offset, stream, length):
        stored.append((offset, length))
        return real_append(upload_id=upload_id, offset=offset, stream=stream, length=length)

    monkeypatch.setattr(uploads, "import_upload_append", counting)
    session = DropsAfterSending()
    client = Client(live_server.url, token, session=session, chunk_bytes=512, backoff=0.01)
    df = frame()
    job = client.push(
        df,
        images=[png((i, i, i), size=(64, 64)) for i in range(len(df))],
        project="cat-app",
        dataset="photos",
        run="v1",
        progress=False,
    )
    assert job["status"] == "succeeded", job
    assert session.patches >= 5
    # Every byte was stored exactly once, in order, though two chunks were "lost".
    offsets = [offset for offset, _ in stored]
    assert offsets == sorted(set(offsets))
    assert all(a + n == b for (a, n), (b, _) in zip(stored, stored[1:], strict=False))
    assert Example.objects.count() == 6


def test_an_upload_can_be_resumed_from_another_process(live_server, token, tmp_path):
    from tests.imports.builders import rows, zip_dump

    dump = tmp_path / "dump.zip"
    dump.write_bytes(zip_dump(rows(20)).getvalue())
    client = Client(live_server.url, token, chunk_bytes=1024)
    begun = client._request(
        "post",
        "/api/v1/import-uploads/",
        json={"project": "cat-app", "file_name": "dump.zip", "size": dump.stat().st_size},
    )
    first = dump.read_bytes()[:1024]
    client.session.patch(
        f"{live_server.url}/api/v1/import-uploads/{begun['id']}/",
        data=first,
        headers={"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    upload = Client(live_server.url, token, chunk_bytes=1024).upload(
        dump, project="cat-app", resume=begun["id"], progress=False
    )
    assert upload["is_complete"] and upload["received"] == dump.stat().st_size
    job = client.wait(
        client.start_import(upload=upload["id"], project="cat-app", dataset="d", run="r"),
        progress=False,
    )
    assert job["status"] == "succeeded"


def test_a_run_name_taken_is_refused_before_uploading(live_server, token):
    client = Client(live_server.url, token)
    options = dict(project="cat-app", dataset="photos", run="v1", progress=False)
    client.push(frame(2), images=[png("red")] * 2, **options)
    with pytest.raises(PushError, match="already exists") as refused:
        client.push(frame(2), images=[png("red")] * 2, **options)
    assert refused.value.status == 409
    assert ImportUpload.objects.count() == 0
    assert ImportJob.objects.count() == 1


def test_a_bad_token_is_refused(live_server, db, project):
    with pytest.raises(PushError, match="HTTP 401"):
        Client(live_server.url, "wrong").push(
            frame(1), images=[png("red")], project="cat-app", dataset="d", run="r"
        )
