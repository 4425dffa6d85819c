from celery import shared_task
from django.db import InterfaceError, OperationalError

from mlstrat.datasets.models import ModelRun

from . import services


@shared_task(
    name="labels.scores_compute",
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=True,
    retry_backoff_max=120,
    max_retries=5,
)
def label_scores_compute(*, run_id: int) -> int:
    run = ModelRun.objects.filter(pk=run_id).first()
    if run is None:
        return 0
    return services.label_scores_compute(run=run)
