"""The Celery app. Workers: `celery -A mlstrat worker`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlstrat.settings.local")

app = Celery("mlstrat")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
