from django.db import transaction

from mlstrat.datasets.models import Dataset

from .models import INCORRECT_LABEL, ErrorCategory


@transaction.atomic
def category_ensure_builtins(*, dataset: Dataset) -> ErrorCategory:
    category, _ = ErrorCategory.objects.get_or_create(
        dataset=dataset,
        builtin=INCORRECT_LABEL,
        defaults={
            "name": "Incorrectly labeled",
            "description": "The given label is wrong: propose the label it should have.",
            "color": "#e15759",
            "key": "l",
            "order": 0,
        },
    )
    return category
