"""Multi-task rows of JSON Lines and Parquet tables: the `labels`, `predictions` and
`probabilities` objects spread into the columns a CSV would have (`label:<task>`,
`prediction:<task>`, `prob:<task>`, `prob:<task>:<class>`), so the same row checks apply
to every format (validation.py)."""

TASK_OBJECTS = ("labels", "predictions")


def is_multitask_row(obj: dict) -> bool:
    return "labels" in obj or "predictions" in obj


def spread_tasks(obj: dict) -> str | None:
    """Spread the row's task objects into columns, in place; the problem if they are not
    objects. A task named in `predictions` but absent from `labels` has an unknown label
    (its column is there, empty), so the first row's keys name every task."""
    labels = obj.pop("labels", None)
    predictions = obj.pop("predictions", None)
    probabilities = obj.pop("probabilities", None)
    labels = _as_dict(labels)
    predictions = _as_dict(predictions)
    if labels is None or predictions is None:
        return "'labels' and 'predictions' must be objects of task to label"
    for task in [*labels, *(t for t in predictions if t not in labels)]:
        obj[f"label:{task}"] = labels.get(task)
    for task, value in predictions.items():
        obj[f"prediction:{task}"] = value
    if probabilities is None:
        return None
    probabilities = _as_dict(probabilities)
    if probabilities is None:
        return (
            "'probabilities' of a multi-task row must be an object of task to a probability "
            "(binary task) or to an object of class to probability"
        )
    for task, value in probabilities.items():
        per_class = _as_dict(value) if isinstance(value, dict | list) else None
        if per_class is None:
            obj[f"prob:{task}"] = value
        else:
            for cls, p in per_class.items():
                obj[f"prob:{task}:{cls}"] = p
    return None


def _as_dict(value) -> dict | None:
    """An object, or a Parquet map ([(key, value), ...]); None for anything else. A
    missing object (None) is empty."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    if isinstance(value, list) and all(isinstance(i, tuple | list) and len(i) == 2 for i in value):
        return {str(k): v for k, v in value}
    return None
