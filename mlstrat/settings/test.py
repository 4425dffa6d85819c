"""Test settings: SQLite unless DATABASE_URL says otherwise (CI uses PostgreSQL)."""

import os
import re
from pathlib import Path

# Under pytest-xdist (gw0, gw1, ...) each test process takes its own broker database, one
# below the given one per process, so that one process's real worker never takes another's
# tasks (pytest-django gives each process its own test database). Set in the environment:
# the worker subprocesses the tests start inherit it.
_process = re.fullmatch(r"gw(\d+)", os.environ.get("PYTEST_XDIST_WORKER", ""))
_broker = re.fullmatch(r"(redis://.*/)(\d+)", os.environ.get("CELERY_BROKER_URL", ""))
if _process and _broker:
    number = int(_broker[2]) - int(_process[1])
    os.environ["CELERY_BROKER_URL"] = f"{_broker[1]}{number}"

from .base import *  # noqa: E402, F403
from .base import BASE_DIR, REST_FRAMEWORK  # noqa: E402

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or BASE_DIR / ".test-media" / str(os.getpid()))
# Tests opt in to a real broker; by default tasks run in-process.
CELERY_TASK_ALWAYS_EAGER = True
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"anon": "10000/minute", "user": "100000/minute"},
}
AXES_ENABLED = os.environ.get("AXES_ENABLED", "0") == "1"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
