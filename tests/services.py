"""Private instances of the backing services, for tests that stop and restart them for
real without touching the machine's shared PostgreSQL and Redis (other suites use those):

- `private_redis`: a redis-server of this test, on a free port, no persistence;
- `private_postgres`: a PostgreSQL cluster of this test (initdb in a temporary folder,
  fsync off), run as the `postgres` user when we are root (PostgreSQL refuses root);
- `web_server`: starts the app under gunicorn, as in production, against any database
  and broker.

Everything is stopped and removed when the test ends, passed or failed. A missing
binary skips the test, except in CI (CI=true), where it fails instead.
"""

import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
REDIS_SERVER = "/usr/bin/redis-server"
POSTGRES_BINARIES = "/usr/lib/postgresql/*/bin"
READY_TIMEOUT = 60  # seconds; generous: CI runs two test processes on two cores


def require(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Required in CI: {reason}")
    pytest.skip(reason)


def require_postgresql(why: str) -> None:
    """Skip (fail in CI) a test that needs the database to be PostgreSQL."""
    from django.db import connection

    require(connection.vendor == "postgresql", f"{why} needs PostgreSQL (set DATABASE_URL).")


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range. While a service of ours is
    stopped its port is free, and an outgoing connection (which takes its local port
    from the ephemeral range) could otherwise take it before the service restarts."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rnd = random.SystemRandom()
    for _ in range(200):
        port = rnd.randrange(max(1024, low - 12000), low)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def port_is_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def wait_for(condition, *, what: str, timeout: float = READY_TIMEOUT, log=None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            tail = f":\n{log()[-4000:]}" if log else ""
            pytest.fail(f"{what} did not happen within {timeout} s{tail}")
        time.sleep(0.1)


def stop_process(process: subprocess.Popen, timeout: float = 20) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def read_log(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


# ---------------------------------------------------------------- Redis


class RedisServer:
    """A redis-server process owned by the test (not daemonized)."""

    def __init__(self, *, port: int, folder: Path):
        self.port = port
        self.folder = folder
        self.process = None
        self.url = self.db(0)

    def db(self, number: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{number}"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / "redis.log").open("ab") as out:
            self.process = subprocess.Popen(
                [
                    REDIS_SERVER,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.folder),
                ],
                cwd=self.folder,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_for(
            lambda: self.process.poll() is not None or port_is_open(self.port),
            what="redis-server accepting connections",
            log=self.log,
        )
        if self.process.poll() is not None:
            pytest.fail(f"redis-server exited at start:\n{self.log()[-4000:]}")

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it; returns once the port is closed."""
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=READY_TIMEOUT)
        wait_for(lambda: not port_is_open(self.port), what="the Redis port closing")

    def kill(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=10)

    def log(self) -> str:
        return read_log(self.folder / "redis.log")


@pytest.fixture
def private_redis(tmp_path):
    require(os.access(REDIS_SERVER, os.X_OK), f"{REDIS_SERVER} is not installed")
    server = RedisServer(port=free_port(), folder=tmp_path / "redis")
    try:
        server.start()
        yield server
    finally:
        server.kill()


# ---------------------------------------------------------------- PostgreSQL


def postgres_bin() -> Path | None:
    """The newest installed version's binaries (/usr/lib/postgresql/<version>/bin)."""
    found = [p for p in Path("/").glob(POSTGRES_BINARIES.lstrip("/")) if p.parent.name.isdigit()]
    return max(found, key=lambda p: int(p.parent.name), default=None)


class PostgresCluster:
    """A cluster in `root` (owned by the user PostgreSQL runs as), on 127.0.0.1:`port`,
    its unix socket inside `root`. Fast and unsafe on purpose: fsync off."""

    def __init__(self, *, root: Path, port: int, bin_dir: Path, run_as: list[str]):
        self.root = root
        self.port = port
        self.bin_dir = bin_dir
        self.run_as = run_as
        self.data = root / "data"
        self.options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -k {root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )

    def _run(self, *args: str, timeout: float = 120) -> None:
        # Output to a file, not a pipe: the postmaster outlives pg_ctl.
        with (self.root / "commands.log").open("ab") as out:
            result = subprocess.run(
                [*self.run_as, str(self.bin_dir / args[0]), *args[1:]],
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
        if result.returncode:
            pytest.fail(f"{' '.join(args[:2])} failed:\n{self.log()[-4000:]}")

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--locale=C", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        self._run(
            "pg_ctl", "start", "-D", str(self.data), "-l", str(self.root / "postgres.log"),
            "-w", "-t", str(READY_TIMEOUT), "-o", self.options,
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "60")

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres"):
        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=database, connect_timeout=5
        )

    def create_database(self, name: str) -> str:
        admin = self.connect()
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        admin.close()
        return self.url(name)

    def destroy(self) -> None:
        """Stop at once whatever state it is in, and remove the folder."""
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            subprocess.run(
                [*self.run_as, str(self.bin_dir / "pg_ctl"), "stop", "-D", str(self.data)]
                + ["-m", "immediate", "-w", "-t", "30"],
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=60,
            )
        if pid_file.exists():  # pg_ctl could not stop it: the postmaster's pid is line 1
            try:
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
            except (OSError, ValueError, IndexError):
                pass
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        return read_log(self.root / "commands.log") + read_log(self.root / "postgres.log")


@pytest.fixture
def private_postgres():
    bin_dir = postgres_bin()
    require(bin_dir is not None, f"no PostgreSQL server binaries in {POSTGRES_BINARIES}")
    run_as = []
    owner = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        require(shutil.which("runuser") is not None, "runuser is not installed")
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            require(False, "there is no postgres user to run PostgreSQL as")
        run_as = ["runuser", "-u", "postgres", "--"]
    # Not under pytest's tmp_path: the postgres user must be able to reach the folder.
    root = Path(tempfile.mkdtemp(prefix="mlstrat-pg-"))
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    cluster = PostgresCluster(root=root, port=free_port(), bin_dir=bin_dir, run_as=run_as)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


# ---------------------------------------------------------------- the app under gunicorn


def app_env(*, database_url: str, broker_url: str, media_root, **extra: str) -> dict:
    """The environment of an app process (web, worker, manage.py) for this database and
    broker; DEBUG off and persistent connections with health checks, as in production."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mlstrat.settings.local",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "MEDIA_ROOT": str(media_root),
        "DEBUG": "0",
        "CONN_MAX_AGE": "60",
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


class WebServer:
    def __init__(self, process: subprocess.Popen, port: int, log: Path):
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def worker_pids(self) -> set[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return {int(pid) for pid in children.read_text().split()}
        except FileNotFoundError:
            return set()

    def output(self) -> str:
        return read_log(self.log)


def start_web_server(*, env: dict, log: Path, workers: int = 2, threads: int = 4) -> WebServer:
    """gunicorn serving mlstrat.wsgi:application on a free loopback port (as
    bench/load_sheet.py starts it), ready when /healthz answers."""
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "mlstrat.wsgi:application",
                "--bind", f"127.0.0.1:{port}",
                "--workers", str(workers), "--threads", str(threads),
                "--worker-class", "gthread", "--timeout", "60", "--keep-alive", "30",
                "--log-level", "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = WebServer(process, port, log)

    def answers():
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited at start:\n{server.output()[-4000:]}")
        try:
            return requests.get(f"{server.url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_for(answers, what="gunicorn answering /healthz", log=server.output)
    except BaseException:
        stop_process(process)
        raise
    return server


@pytest.fixture
def web_server(tmp_path):
    """Call with an environment (see `app_env`) to start a server; stopped at the end."""
    servers = []

    def start(env: dict, **options) -> WebServer:
        server = start_web_server(env=env, log=tmp_path / f"gunicorn-{len(servers)}.log", **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        stop_process(server.process)
