"""`make run` prints the address and the demo logins, and stays quiet (no line per
in-process task, no request log)."""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.services import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.worker
def test_make_run_prints_the_address_and_the_logins_and_little_else(tmp_path):
    if not (ROOT / ".stamps" / "app").exists():
        pytest.skip("make run needs the installed app (.stamps/app)")
    # Brought up to date first: what the first run installs is pip's output, not ours.
    subprocess.run(["make", "--no-print-directory", ".stamps/app"], cwd=ROOT, check=True)
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DJANGO_SETTINGS_MODULE", "LOG_LEVEL", "CELERY_BROKER_URL", "REDIS_URL"}
    }
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", MEDIA_ROOT=str(tmp_path))
    process = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines = []
    try:
        deadline = time.monotonic() + 180
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if "Quit the server" in line or time.monotonic() > deadline:
                break
        # A request must not add a line either.
        import urllib.request

        urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=10).read()
        time.sleep(0.5)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        rest, _ = process.communicate(timeout=30)
    lines += [line for line in rest.splitlines() if line.strip()]
    output = "\n".join(lines)
    assert f"http://127.0.0.1:{port}/" in output
    assert "admin       / demo-pass-2026   (admin)" in output
    assert "Task " not in output and "succeeded" not in output
    assert "GET /login/" not in output
    assert len([line for line in lines if line.strip()]) <= 20, output
