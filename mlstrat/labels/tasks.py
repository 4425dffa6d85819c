from celery import shared_task

from mlstrat.celery import CRASH_SAFE
from mlstrat.datasets.models import ModelRun

from . import services


@shared_task(name="labels.scores_compute", **CRASH_SAFE)
def label_scores_compute(*, run_id: int) -> int:
    run = ModelRun.objects.filter(pk=run_id).first()
    if run is None:
        return 0
    return services.label_scores_compute(run=run)
