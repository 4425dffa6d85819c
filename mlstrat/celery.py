"""The Celery app. Workers: `celery -A mlstrat worker`."""

import os

from celery import Celery
from django.db import InterfaceError, OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlstrat.settings.local")

app = Celery("mlstrat")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# What every mlstrat task is declared with: the message is acknowledged after the work and
# given back if the worker dies (the tasks are idempotent), and a database gone for a
# moment (restart, failover) is worth another try, later.
CRASH_SAFE = {
    "acks_late": True,
    "reject_on_worker_lost": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": True,
    "retry_backoff_max": 120,
    "max_retries": 5,
}
