"""`mlstrat push`: send a prediction dump to a server and follow its import.

    mlstrat push --server https://mlstrat.example.com --token TOKEN --project SLUG \\
        --dataset NAME --run NAME [--replace] [--skip-invalid] [--images-dir DIR] PATH

PATH is a .zip (sent as is), a folder (zipped on the fly into a temporary file, never
in memory), or a table file (predictions.csv/.jsonl, images already on the server in
--images-dir). The upload is streamed. Exit status: 0 when the import succeeded, 1 when
it failed (row errors printed), 2 when the request itself was refused.
"""

import argparse
import os
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

import requests

POLL_SECONDS = 1.0


class MultipartFile:
    """A multipart/form-data body read in chunks: form fields, then one file, streamed."""

    def __init__(self, *, fields: dict, file_field: str, path: Path, file_name: str):
        self.boundary = uuid.uuid4().hex
        head = []
        for name, value in fields.items():
            head.append(
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n"
            )
        head.append(
            f"--{self.boundary}\r\nContent-Disposition: form-data; "
            f'name="{file_field}"; filename="{file_name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        )
        self._head = "".join(head).encode()
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._size = path.stat().st_size
        self._file = path.open("rb")
        self._parts = [self._head, None, self._tail]
        self._index = 0
        self._offset = 0
        self.sent = 0

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self._head) + self._size + len(self._tail)

    def read(self, size: int = -1) -> bytes:
        size = 1 << 16 if size is None or size < 0 else size
        while self._index < len(self._parts):
            part = self._parts[self._index]
            if part is None:
                chunk = self._file.read(size)
                if chunk:
                    self.sent += len(chunk)
                    return chunk
            else:
                chunk = part[self._offset : self._offset + size]
                if chunk:
                    self._offset += len(chunk)
                    self.sent += len(chunk)
                    return chunk
            self._index += 1
            self._offset = 0
        return b""

    def close(self) -> None:
        self._file.close()


def zip_folder(folder: Path, target: Path) -> None:
    """Zip a dump folder member by member (images are stored, the table compressed)."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            name = path.relative_to(folder).as_posix()
            is_table = name.startswith("predictions.")
            archive.write(
                path, name, compress_type=zipfile.ZIP_DEFLATED if is_table else zipfile.ZIP_STORED
            )


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="mlstrat", description="mlstrat command line client")
    commands = parser.add_subparsers(dest="command", required=True)
    push = commands.add_parser("push", help="upload a prediction dump and follow its import")
    push.add_argument(
        "path", help="a .zip, a folder holding predictions.csv and images, or a table"
    )
    push.add_argument("--server", required=True, help="e.g. https://mlstrat.example.com")
    push.add_argument(
        "--token",
        default=os.environ.get("MLSTRAT_TOKEN"),
        help="API token (POST /api/v1/token/); default $MLSTRAT_TOKEN",
    )
    push.add_argument("--project", required=True, help="project slug")
    push.add_argument("--dataset", required=True, help="dataset name (created if new)")
    push.add_argument("--run", required=True, help="run name, e.g. the model version")
    push.add_argument("--replace", action="store_true", help="replace a run of the same name")
    push.add_argument("--skip-invalid", action="store_true", help="import the valid rows only")
    push.add_argument("--images-dir", default="", help="images folder on the server (tables)")
    push.add_argument("--quiet", action="store_true", help="no progress line")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not args.token:
        print("mlstrat: a token is needed (--token or $MLSTRAT_TOKEN).", file=sys.stderr)
        return 2
    path = Path(args.path)
    if not path.exists():
        print(f"mlstrat: no such file or folder: {path}", file=sys.stderr)
        return 2
    session = requests.Session()
    session.headers["Authorization"] = f"Token {args.token}"
    server = args.server.rstrip("/")
    try:
        job = push(session=session, server=server, args=args, path=path)
        if job is None:
            return 2
        return follow(session=session, server=server, job=job, quiet=args.quiet)
    except requests.RequestException as exc:
        print(f"mlstrat: cannot reach {server}: {exc}", file=sys.stderr)
        return 2


def push(*, session, server, args, path: Path):
    fields = {
        "project": args.project,
        "dataset": args.dataset,
        "run": args.run,
        "replace": "true" if args.replace else "false",
        "skip_invalid": "true" if args.skip_invalid else "false",
    }
    if args.images_dir:
        fields["images_dir"] = args.images_dir
    with tempfile.TemporaryDirectory(prefix="mlstrat-push-") as scratch:
        if path.is_dir():
            print(f"Zipping {path} ...", file=sys.stderr)
            upload = Path(scratch) / f"{path.name or 'dump'}.zip"
            zip_folder(path, upload)
        else:
            upload = path
        body = MultipartFile(fields=fields, file_field="file", path=upload, file_name=upload.name)
        try:
            print(f"Uploading {upload.name} ({len(body)} bytes) ...", file=sys.stderr)
            response = session.post(
                f"{server}/api/v1/imports/",
                data=body,
                headers={"Content-Type": body.content_type, "Content-Length": str(len(body))},
                timeout=(10, 3600),
            )
        finally:
            body.close()
    if response.status_code != 202:
        print(f"mlstrat: the server refused the upload: {reason(response)}", file=sys.stderr)
        if response.status_code == 409:
            print("  Push it with --replace to replace that run.", file=sys.stderr)
        return None
    job = response.json()
    print(f"Import job #{job['id']} accepted: run {job['run_name']} into {job['dataset_name']}")
    return job


def reason(response) -> str:
    try:
        data = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(data, dict) and "detail" in data:
        return f"HTTP {response.status_code}: {data['detail']}"
    return f"HTTP {response.status_code}: {data}"


def progress_line(job) -> str:
    total = job["rows_total"] or "?"
    return (
        f"{job['status']:<11} rows checked {job['rows_validated']}/{total} · "
        f"written {job['rows_written']} · thumbnails "
        f"{job['thumbnails_done']}/{job['thumbnails_total']}"
    )


def follow(*, session, server, job, quiet=False) -> int:
    url = f"{server}/api/v1/imports/{job['id']}/"
    while not job["is_finished"]:
        if not quiet:
            print("\r" + progress_line(job), end="", file=sys.stderr, flush=True)
        time.sleep(POLL_SECONDS)
        response = session.get(url, timeout=30)
        if response.status_code != 200:
            print(f"\nmlstrat: cannot read the job: {reason(response)}", file=sys.stderr)
            return 2
        job = response.json()
    if not quiet:
        print("\r" + progress_line(job), file=sys.stderr)
    if job["status"] == "succeeded":
        print(job["message"])
        return 0
    print(f"Import failed: {job['message']}", file=sys.stderr)
    for error in job["errors"]:
        column = f" [{error['column']}]" if error["column"] else ""
        print(f"  line {error['line']}{column}: {error['message']}", file=sys.stderr)
    if job["error_count"] > len(job["errors"]):
        print(f"  ... and {job['error_count'] - len(job['errors'])} more", file=sys.stderr)
    if job["error_count"] and not job.get("skip_invalid"):
        print(
            "Fix them, or push again with --skip-invalid to import the valid rows only.",
            file=sys.stderr,
        )
    return 1


if __name__ == "__main__":
    sys.exit(main())
