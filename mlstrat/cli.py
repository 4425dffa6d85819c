"""`mlstrat push`: send a prediction dump to a server and follow its import.

    mlstrat push --server https://mlstrat.example.com --token TOKEN --project SLUG \\
        --dataset NAME --run NAME [--replace] [--skip-invalid] [--images-dir DIR] PATH

PATH is a .zip (sent as is), a folder (zipped on the fly into a temporary file, never
in memory), or a table file (predictions.csv/.jsonl/.parquet, images already on the server
in --images-dir). The upload goes in resumable chunks (mlstrat.client: a dropped
connection resumes where the server stands). Exit status: 0 when the import succeeded, 1
when it failed (row errors printed), 2 when the request itself was refused.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from .client import Client, PushError

POLL_SECONDS = 1.0


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
        help="API token (the API tokens page, or POST /api/v1/token/); default $MLSTRAT_TOKEN",
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
    client = Client(args.server, args.token)
    try:
        job = push(client=client, args=args, path=path)
    except PushError as exc:
        print(f"mlstrat: the server refused the upload: {exc}", file=sys.stderr)
        if exc.status == 409:
            print("  Push it with --replace to replace that run.", file=sys.stderr)
        return 2
    print(f"Import job #{job['id']} accepted: run {job['run_name']} into {job['dataset_name']}")
    try:
        return follow(client=client, job=job, quiet=args.quiet)
    except PushError as exc:
        print(f"\nmlstrat: cannot read the job: {exc}", file=sys.stderr)
        return 2


def push(*, client: Client, args, path: Path) -> dict:
    """Send the dump in resumable chunks (zipping a folder first) and start its import."""
    with tempfile.TemporaryDirectory(prefix="mlstrat-push-") as scratch:
        if path.is_dir():
            print(f"Zipping {path} ...", file=sys.stderr)
        upload_path = client.dump_file(str(path), scratch=scratch)
        size = upload_path.stat().st_size
        print(f"Uploading {upload_path.name} ({size} bytes) ...", file=sys.stderr)
        upload = client.upload(
            upload_path,
            project=args.project,
            dataset=args.dataset,
            run=args.run,
            replace=args.replace,
            progress=not args.quiet,
        )
    return client.start_import(
        upload=upload["id"],
        project=args.project,
        dataset=args.dataset,
        run=args.run,
        replace=args.replace,
        skip_invalid=args.skip_invalid,
        images_dir=args.images_dir,
    )


def progress_line(job) -> str:
    total = job["rows_total"] or "?"
    return (
        f"{job['status']:<11} rows checked {job['rows_validated']}/{total} · "
        f"written {job['rows_written']} · thumbnails "
        f"{job['thumbnails_done']}/{job['thumbnails_total']}"
    )


def follow(*, client: Client, job, quiet=False) -> int:
    while not job["is_finished"]:
        if not quiet:
            print("\r" + progress_line(job), end="", file=sys.stderr, flush=True)
        time.sleep(POLL_SECONDS)
        job = client.job(job["id"])
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
