"""The production shape cannot rot: compose file valid, deploy checks clean, unsafe keys refused."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STRONG_KEY = "k8Jq2xZ-pV7mN3bW9cR1tY6uE4oA0sD5fG8hL2jK7nM9qP3vX1zC6bT4yU0iO5wE"


def run_manage(*args, env_extra):
    env = {**os.environ, **env_extra}
    env.pop("DATABASE_URL", None)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # set for Playwright tests, not for deployments
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )


def test_production_settings_pass_deploy_checks():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env_extra={
            "DJANGO_SETTINGS_MODULE": "mlstrat.settings.production",
            "SECRET_KEY": STRONG_KEY,
            "ALLOWED_HOSTS": "mlstrat.example.com",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "key", ["", "short", "dev-only-insecure-key-change-me-for-anything-real", "a" * 60]
)
def test_production_refuses_a_missing_or_weak_secret_key(key):
    result = run_manage(
        "check",
        env_extra={
            "DJANGO_SETTINGS_MODULE": "mlstrat.settings.production",
            "SECRET_KEY": key,
            "ALLOWED_HOSTS": "mlstrat.example.com",
        },
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_docker_compose_file_is_valid():
    if not shutil.which("docker-compose"):
        if os.environ.get("CI"):
            pytest.fail("docker-compose is needed in CI to validate docker-compose.yml")
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    result = subprocess.run(
        ["docker-compose", "-f", "docker-compose.yml", "config"],
        cwd=ROOT,
        env={**os.environ, "SECRET_KEY": STRONG_KEY},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    for service in ("db:", "redis:", "web:", "worker:", "beat:"):
        assert service in result.stdout
    assert result.stdout.count("healthcheck:") == 4


def test_healthz_answers(client, db):
    assert client.get("/healthz").json() == {"status": "ok"}
