from django.db import transaction

from mlstrat.accounts.models import Project

from .models import Dataset
from .staleness import dataset_figures_stale


@transaction.atomic
def dataset_create(
    *, project: Project, name: str, class_names=(), description: str = ""
) -> Dataset:
    """A new dataset. Its built-in *Incorrectly labeled* category is the review app's
    business (review.services.category_ensure_builtins, called by whoever creates one)."""
    return Dataset.objects.create(
        project=project, name=name, class_names=list(class_names), description=description
    )


def dataset_get_or_create(*, project: Project, name: str) -> tuple[Dataset, bool]:
    existing = Dataset.objects.filter(project=project, name=name).first()
    if existing:
        return existing, False
    return dataset_create(project=project, name=name), True


def dataset_set_human_level_error(
    *, dataset: Dataset, error: float | None, by_source: dict | None = None
) -> Dataset:
    if error is not None and not 0 <= error <= 1:
        raise ValueError("Human-level error is a rate between 0 and 1.")
    for source, value in (by_source or {}).items():
        if not isinstance(value, int | float) or not 0 <= value <= 1:
            raise ValueError(f"Human-level error for {source!r} must be between 0 and 1.")
    dataset.human_level_error = error
    if by_source is not None:
        dataset.human_level_error_by_source = by_source
    dataset.save(update_fields=["human_level_error", "human_level_error_by_source"])
    dataset_figures_stale(dataset=dataset)
    return dataset
