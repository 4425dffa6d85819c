"""The digits demo: people, a project and two real runs, loaded through the import pipeline.

`demo_load()` is idempotent: what exists already is left as it is. Other concerns extend
the demo by calling their own services on the project it returns.
"""

import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from mlstrat.accounts.models import Membership, Project, Role
from mlstrat.accounts.services import membership_set
from mlstrat.datasets.models import Dataset, ModelRun, RunStatus
from mlstrat.datasets.services import dataset_set_human_level_error
from mlstrat.imports.models import JobStatus
from mlstrat.imports.services import import_job_create, import_job_run
from mlstrat.review.demo import demo_seed_review

from .multitask import DATASET_NAME as MULTITASK_DATASET
from .multitask import write_multitask_dump

DUMPS = Path(__file__).resolve().parent / "dumps"
PASSWORD = "demo-pass-2026"
PROJECT_SLUG = "digits-demo"
PROJECT_NAME = "Digits demo"
DATASET_NAME = "digits"
HUMAN_LEVEL_ERROR = 0.005
USERS = [
    ("admin", Role.ADMIN),
    ("lead", Role.LEAD),
    ("annotator", Role.ANNOTATOR),
    ("annotator2", Role.ANNOTATOR),
]
MULTITASK_REVIEW_TASK = "digit"
RUNS = [
    ("logreg-c0.5", "run1-logreg-c0.5.zip"),
    ("logreg-c5", "run2-logreg-c5.zip"),
]


class DemoLoadError(RuntimeError):
    pass


@dataclass
class DemoLogin:
    username: str
    role: str
    password: str


def demo_logins() -> list[DemoLogin]:
    return [DemoLogin(username, role, PASSWORD) for username, role in USERS]


@transaction.atomic
def _demo_people() -> Project:
    User = get_user_model()
    users = {}
    for username, _ in USERS:
        user, created = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@demo.mlstrat.local"}
        )
        if created:
            user.set_password(PASSWORD)
            user.save(update_fields=["password"])
        users[username] = user
    project, _ = Project.objects.get_or_create(
        slug=PROJECT_SLUG,
        defaults={
            "name": PROJECT_NAME,
            "description": "Handwritten digits: clean scans (train) against phone photos "
            "(dev/test). Two logistic-regression runs to compare.",
        },
    )
    for username, role in USERS:
        if not Membership.objects.filter(project=project, user=users[username]).exists():
            membership_set(project=project, user=users[username], role=role)
    return project


def _demo_import(
    *, project: Project, admin, run_name: str, dump: Path, dataset_name: str = DATASET_NAME
) -> None:
    dataset = Dataset.objects.filter(project=project, name=dataset_name).first()
    if ModelRun.objects.filter(dataset=dataset, name=run_name, status=RunStatus.READY).exists():
        return
    job = import_job_create(
        project=project,
        user=admin,
        dataset_name=dataset_name,
        run_name=run_name,
        server_path=str(dump),
        allow_any_path=True,
        enqueue=False,
    )
    job = import_job_run(job_id=job.pk, inline_thumbnails=True)
    if job.status != JobStatus.SUCCEEDED:
        raise DemoLoadError(f"The demo run {run_name} did not import: {job.message}")


def demo_load() -> Project:
    """Create the demo (once) and return its project."""
    project = _demo_people()
    admin = get_user_model().objects.get(username="admin")
    for run_name, file_name in RUNS:
        _demo_import(project=project, admin=admin, run_name=run_name, dump=DUMPS / file_name)
    dataset = Dataset.objects.get(project=project, name=DATASET_NAME)
    if dataset.human_level_error is None:
        dataset_set_human_level_error(dataset=dataset, error=HUMAN_LEVEL_ERROR)
    _demo_reviews(dataset=dataset)
    _demo_mismatch(dataset=dataset)
    _demo_multitask(project=project, admin=admin)
    return project


def _demo_multitask(*, project: Project, admin) -> None:
    """A multi-task dataset (mlstrat/demo/multitask.py) through the real import: each
    digits run's dump rewritten with four labels per image, some unknown; a review of one
    task's dev errors per run, tagged by the annotators."""
    with tempfile.TemporaryDirectory() as folder:
        for run_name, file_name in RUNS:
            dump = write_multitask_dump(
                source=DUMPS / file_name, out=Path(folder) / f"multitask-{file_name}"
            )
            _demo_import(
                project=project,
                admin=admin,
                run_name=run_name,
                dump=dump,
                dataset_name=MULTITASK_DATASET,
            )
    dataset = Dataset.objects.get(project=project, name=MULTITASK_DATASET)
    if dataset.human_level_error is None:
        dataset_set_human_level_error(dataset=dataset, error=HUMAN_LEVEL_ERROR)
    annotators = list(
        get_user_model()
        .objects.filter(username__in=["annotator", "annotator2"])
        .order_by("username")
    )
    for run in dataset.runs.filter(status=RunStatus.READY).order_by("imported_at", "id"):
        if not run.reviews.exists():
            demo_seed_review(
                run=run,
                users=annotators,
                task=MULTITASK_REVIEW_TASK,
                name=f"Dev errors of {MULTITASK_REVIEW_TASK} (demo)",
            )


def _demo_reviews(*, dataset: Dataset) -> None:
    """Each run gets a review tagged by the two annotators (from the images' real
    distortion metadata), so the sheet, agreement and dashboards show real numbers."""
    annotators = list(
        get_user_model()
        .objects.filter(username__in=["annotator", "annotator2"])
        .order_by("username")
    )
    for run in dataset.runs.filter(status=RunStatus.READY).order_by("imported_at", "id"):
        if not run.reviews.exists():
            demo_seed_review(run=run, users=annotators)


def _demo_mismatch(*, dataset: Dataset) -> None:
    """A train-vs-dev review and a synthesis recipe (mlstrat/mismatch/demo.py)."""
    from mlstrat.mismatch.demo import demo_seed_mismatch

    people = get_user_model().objects.filter(username__in=["annotator", "annotator2", "lead"])
    by_name = {user.username: user for user in people}
    demo_seed_mismatch(
        dataset=dataset,
        users=[by_name["annotator"], by_name["annotator2"]],
        lead=by_name["lead"],
    )
