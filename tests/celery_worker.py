"""A REAL Celery worker for tests: `celery -A mlstrat worker` in a subprocess, pointed at the
current test database, the test broker and the test MEDIA_ROOT.

Use the `celery_worker` fixture in tests marked

    @pytest.mark.worker
    @pytest.mark.django_db(transaction=True)

(the worker sees only committed rows). The fixture skips on SQLite or without
CELERY_BROKER_URL, except in CI (CI=true), where it fails instead. While it runs, tasks
sent with `.delay()` go to the broker instead of running in-process.

`running_worker(...)` starts one for any broker and database (tests/security/
test_redis_stopped.py points it at a private redis-server).
"""

import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from celery import Celery

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60


def _skip_or_fail(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"A real Celery worker is required in CI: {reason}")
    pytest.skip(reason)


def database_url(settings_dict: dict) -> str:
    user = quote(settings_dict.get("USER") or "")
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{quote(password)}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


class Worker:
    """A running worker process; `pool_pids()` are the children that execute tasks."""

    def __init__(self, process: subprocess.Popen, log: Path):
        self.process = process
        self.log = log

    def pool_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except FileNotFoundError:
            return []

    def kill_pool(self) -> list[int]:
        """SIGKILL the processes running tasks, as the OOM killer or a node loss would."""
        pids = self.pool_pids()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return pids

    def descendants(self) -> list[int]:
        """Every process under the worker (its pool, and what the pool started)."""
        found, todo = [], [self.process.pid]
        while todo:
            pid = todo.pop()
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except FileNotFoundError:
                continue
            found += [int(child) for child in children]
            todo += [int(child) for child in children]
        return found

    def kill_whole(self) -> list[int]:
        """SIGKILL the whole worker, its main process and its pool at once (a node lost, a
        container killed): nobody is left to give the task back to the broker."""
        pids = [self.process.pid, *self.pool_pids()]
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        self.process.wait()
        return pids

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _wait_ready(app, worker: Worker, name: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if worker.process.poll() is not None:
            pytest.fail(f"The Celery worker exited early:\n{worker.output()[-4000:]}")
        replies = app.control.ping(destination=[name], timeout=0.5)
        if replies:
            return
    pytest.fail(f"The Celery worker did not become ready:\n{worker.output()[-4000:]}")


@contextmanager
def running_worker(*, broker: str, database: str, media_root, log: Path, extra_env=None):
    """A worker process consuming from `broker`, writing to `database` (a URL), until the
    block ends; it is ready (answers a ping) when the block starts."""
    name = f"imports-test-{uuid.uuid4().hex[:8]}@localhost"
    env = {
        **os.environ,
        **(extra_env or {}),
        "DJANGO_SETTINGS_MODULE": "mlstrat.settings.local",
        "DATABASE_URL": database,
        "CELERY_BROKER_URL": broker,
        "MEDIA_ROOT": str(media_root),
        "CONN_MAX_AGE": "0",
        "PYTHONUNBUFFERED": "1",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "mlstrat",
                "worker",
                "--loglevel=INFO",
                "--pool=prefork",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                "-n",
                name,
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    worker = Worker(process, log)
    try:
        with Celery("worker-ping", set_as_current=False) as control:
            # Not `broker=`: the CELERY_BROKER_URL variable would win over it.
            control.conf.broker_read_url = control.conf.broker_write_url = broker
            _wait_ready(control, worker, name)
        yield worker
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def celery_worker(transactional_db, settings, tmp_path):
    from django.db import connection

    from mlstrat import celery_app

    broker = os.environ.get("CELERY_BROKER_URL", "")
    if not broker:
        _skip_or_fail("CELERY_BROKER_URL is not set")
    if connection.vendor != "postgresql":
        _skip_or_fail("the worker needs PostgreSQL (set DATABASE_URL)")
    celery_app.control.purge()
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        with running_worker(
            broker=broker,
            database=database_url(connection.settings_dict),
            media_root=settings.MEDIA_ROOT,
            log=tmp_path / "worker.log",
        ) as worker:
            yield worker
    finally:
        celery_app.conf.task_always_eager = eager
        celery_app.control.purge()
