"""Reads for the dashboards: a run's figures from its snapshot, runs compared, exports."""

from mlstrat.datasets.models import SPLIT_ORDER, Dataset, ModelRun, RunStatus
from mlstrat.review.models import INCORRECT_LABEL

from . import figures
from .models import AnalysisSettings, AnalysisSnapshot, TeamRule
from .snapshot import SCHEMA

SPLIT_NAMES = {"train": "train", "train_dev": "train-dev", "dev": "dev", "test": "test"}


def team_rule_for(*, dataset: Dataset) -> str:
    settings = AnalysisSettings.objects.filter(dataset=dataset).first()
    return settings.team_rule if settings else TeamRule.MAJORITY


def _split_rows(counts: dict) -> list[dict]:
    rows = []
    for split in SPLIT_ORDER:
        c = counts["splits"].get(str(split), {})
        n = c.get("examples", 0)
        rows.append(
            {
                "split": str(split),
                "name": SPLIT_NAMES[str(split)],
                "examples": n,
                "error": figures.rate(c.get("errors", 0), n),
                "original_error": figures.rate(c.get("original_errors", 0), n),
            }
        )
    return rows


def _decomposition(splits: list[dict], human: float | None, key: str) -> dict:
    by_split = {row["split"]: row[key]["rate"] for row in splits}
    return figures.error_decomposition(
        human, by_split["train"], by_split["train_dev"], by_split["dev"], by_split["test"]
    )


def _general_table(counts: dict, dataset: Dataset) -> dict:
    trained: dict[str, list[int]] = {}
    not_trained: dict[str, list[int]] = {}
    for split, per_source in counts["split_source"].items():
        target = trained if split == "train" else not_trained
        for source, c in per_source.items():
            cell = target.setdefault(source, [0, 0])
            cell[0] += c["errors"]
            cell[1] += c["examples"]
    return figures.general_table(
        sources=counts["sources"],
        trained={s: tuple(v) for s, v in trained.items()},
        not_trained={s: tuple(v) for s, v in not_trained.items()},
        human_by_source=dataset.human_level_error_by_source or {},
    )


def _breakdown(per_split: dict, keys: list[str]) -> list[dict]:
    """Rows (source or class) x columns (splits): error rate with its interval."""
    return [
        {
            "key": key,
            "splits": {
                str(split): figures.rate(
                    per_split.get(str(split), {}).get(key, {}).get("errors", 0),
                    per_split.get(str(split), {}).get(key, {}).get("examples", 0),
                )
                for split in SPLIT_ORDER
            },
        }
        for key in keys
    ]


def _review_figures(review: dict, splits: list[dict], rule: str) -> dict:
    error = next(row["error"] for row in splits if row["split"] == review["split"])
    n = review["reviewed"]
    categories = [
        {
            "id": c["id"],
            "name": c["name"],
            "color": c["color"],
            "archived": c["archived"],
            "builtin": c["builtin"],
            **figures.category_share(c[rule], n, error["rate"]),
        }
        for c in review["categories"]
    ]
    incorrect = next((c for c in categories if c["builtin"] == INCORRECT_LABEL), None)
    impact = figures.label_error_impact(
        error["rate"], incorrect["share"] if incorrect and n else None
    )
    if incorrect and incorrect["share"] is not None and error["rate"] is not None:
        impact["label_error_rate"] = error["rate"] * incorrect["share"]
    return {
        **{k: review[k] for k in ("id", "name", "split", "filters", "items", "reviewed")},
        "split_name": SPLIT_NAMES.get(review["split"], review["split"]),
        "error": error,
        "categories": categories,
        "label_impact": impact,
    }


def _calibration(counts: dict) -> dict:
    """Per split: the reliability diagram, ECE and right/wrong confidence histograms
    (None for a split whose predictions carry no confidence, or none at all)."""
    out = {}
    for split in SPLIT_ORDER:
        c = counts.get("calibration", {}).get(str(split))
        figure = c and figures.calibration(c["correct"], c["wrong"], c["confidence_sum"])
        out[str(split)] = figure if figure and figure["n"] else None
    return out


def figures_from_counts(
    *,
    counts: dict,
    dataset: Dataset,
    rule: str,
    confusion_splits: list[str] | None = None,
    confusion_limit: int | None = None,
) -> dict:
    """Every figure of a run, from its stored counts and the dataset's current settings.
    Pages ask for one split's confusion matrix, limited to the classes with most errors."""
    splits = _split_rows(counts)
    human = dataset.human_level_error
    reviews = [_review_figures(r, splits, rule) for r in counts["reviews"]]
    confusion = {
        split: figures.confusion_matrix(cells, counts["classes"], limit=confusion_limit)
        for split, cells in counts["confusion"].items()
        if confusion_splits is None or split in confusion_splits
    }
    return {
        "team_rule": rule,
        "team_rule_label": TeamRule(rule).label,
        "human_level_error": human,
        "human_level_error_by_source": dataset.human_level_error_by_source or {},
        "labels_corrected": counts["corrected_examples"],
        "splits": splits,
        "decomposition": _decomposition(splits, human, "error"),
        "decomposition_original": _decomposition(splits, human, "original_error"),
        "general_table": _general_table(counts, dataset),
        "sources": counts["sources"],
        "classes": counts["classes"],
        "by_source": _breakdown(counts["split_source"], counts["sources"]),
        "by_class": _breakdown(counts["split_class"], counts["classes"]),
        "confusion": confusion,
        "class_metrics": {
            str(split): figures.class_metrics(
                counts["confusion"].get(str(split), []), counts["classes"]
            )
            for split in SPLIT_ORDER
        },
        "calibration": _calibration(counts),
        "reviews": reviews,
    }


def run_figures(
    *,
    run: ModelRun,
    rule: str | None = None,
    confusion_splits: list[str] | None = None,
    confusion_limit: int | None = None,
) -> dict:
    """A run's dashboard: its snapshot's figures with "as of" and whether a recompute is
    pending. Empty figures (computing) when the snapshot was never computed."""
    dataset = run.dataset
    rule = rule or team_rule_for(dataset=dataset)
    snap = AnalysisSnapshot.objects.filter(run=run).first()
    header = {
        "run": {"id": run.pk, "name": run.name, "dataset": dataset.pk},
        "dataset": {"id": dataset.pk, "name": dataset.name},
        "as_of": snap.computed_at.isoformat() if snap and snap.computed_at else None,
        "stale": snap.is_stale if snap else True,
        "compute_seconds": snap.compute_seconds if snap else None,
    }
    counts = snap.figures if snap and snap.computed_at else None
    if not counts or counts.get("schema") != SCHEMA:
        return {**header, "ready": False}
    figs = figures_from_counts(
        counts=counts,
        dataset=dataset,
        rule=rule,
        confusion_splits=confusion_splits,
        confusion_limit=confusion_limit,
    )
    figs["label_impact"] = _dev_label_impact(run=run, figs=figs, rule=rule)
    return {**header, "ready": True, **figs}


def _dev_label_impact(*, run: ModelRun, figs: dict, rule: str) -> dict:
    """Label-error impact on dev: from this run's own review, or else carried over from
    the latest earlier run reviewed on dev (dev labels do not change with the model)."""
    own = _latest_reviewed(figs["reviews"])
    dev_error = next(r["error"]["rate"] for r in figs["splits"] if r["split"] == "dev")
    if own is not None:
        return {**own["label_impact"], "source": f"review “{own['name']}” of this run"}
    if run.imported_at is None:
        return {**figures.label_error_impact(dev_error, None), "source": ""}
    earlier = (
        AnalysisSnapshot.objects.filter(
            run__dataset_id=run.dataset_id,
            run__status=RunStatus.READY,
            run__imported_at__lt=run.imported_at,
            computed_at__isnull=False,
        )
        .select_related("run")
        .order_by("-run__imported_at")
    )
    for snap in earlier[:10]:
        older = figures_from_counts(
            counts=snap.figures, dataset=run.dataset, rule=rule, confusion_splits=[]
        )
        reviewed = _latest_reviewed(older["reviews"])
        if reviewed and reviewed["label_impact"].get("label_error_rate") is not None:
            impact = figures.label_error_impact(
                dev_error, label_error_rate=reviewed["label_impact"]["label_error_rate"]
            )
            return {**impact, "source": f"carried over from run “{snap.run.name}”"}
    return {**figures.label_error_impact(dev_error, None), "source": ""}


def _latest_reviewed(reviews: list[dict]) -> dict | None:
    dev = [r for r in reviews if r["split"] == "dev" and r["reviewed"] and not r["filters"]]
    return dev[-1] if dev else None


def runs_compared(*, dataset: Dataset, rule: str | None = None) -> dict:
    """The dataset's runs oldest to newest: split errors, decomposition and category
    shares on dev, each with the change since the run before."""
    rule = rule or team_rule_for(dataset=dataset)
    runs = list(
        ModelRun.objects.filter(dataset=dataset, status=RunStatus.READY)
        .select_related("snapshot")
        .order_by("imported_at", "id")
    )
    entries = []
    carried = None  # (label error rate, run name): dev labels do not change with the model
    for run in runs:
        snap = getattr(run, "snapshot", None)
        base = {
            "run": {"id": run.pk, "name": run.name, "imported_at": run.imported_at},
            "as_of": snap.computed_at.isoformat() if snap and snap.computed_at else None,
        }
        if not snap or not snap.computed_at:
            entries.append(
                {**base, "ready": False, "splits": {}, "decomposition": {}, "shares": {}}
            )
            continue
        figs = figures_from_counts(
            counts=snap.figures, dataset=dataset, rule=rule, confusion_splits=[]
        )
        review = _latest_reviewed(figs["reviews"])
        dev_error = next(r["error"]["rate"] for r in figs["splits"] if r["split"] == "dev")
        if review and review["label_impact"].get("label_error_rate") is not None:
            impact = {**review["label_impact"], "source": "own review"}
            carried = (review["label_impact"]["label_error_rate"], run.name)
        elif carried:
            impact = {
                **figures.label_error_impact(dev_error, label_error_rate=carried[0]),
                "source": f"carried over from {carried[1]}",
            }
        else:
            impact = {**figures.label_error_impact(dev_error, None), "source": ""}
        entries.append(
            {
                **base,
                "ready": True,
                "splits": {r["split"]: r["error"]["rate"] for r in figs["splits"]},
                "decomposition": {t["key"]: t["value"] for t in figs["decomposition"]["terms"]},
                "largest_gap": figs["decomposition"]["largest"],
                "review": review["name"] if review else None,
                "shares": {c["name"]: c["share"] for c in review["categories"]} if review else {},
                "label_impact": impact,
            }
        )
    compared = figures.runs_comparison(entries)
    categories = sorted({name for e in entries for name in e["shares"]})
    return {
        "dataset": {"id": dataset.pk, "name": dataset.name},
        "team_rule": rule,
        "runs": compared,
        "categories": categories,
        "gaps": [{"key": g["key"], "name": g["name"]} for g in figures.GAPS],
    }


def runs_overview(*, runs: list[ModelRun]) -> dict[int, dict]:
    """For a list of runs (the project page): the dev error with its interval and errors,
    from each run's snapshot, reading only that part of the stored counts."""
    rows = AnalysisSnapshot.objects.filter(run__in=runs).values(
        "run_id", "computed_at", "requested_at", "figures__splits__dev"
    )
    overview = {}
    for row in rows:
        dev = row["figures__splits__dev"] if row["computed_at"] else None
        timing = AnalysisSnapshot(computed_at=row["computed_at"], requested_at=row["requested_at"])
        overview[row["run_id"]] = {
            "dev_error": None
            if dev is None
            else figures.rate(dev.get("errors", 0), dev.get("examples", 0)),
            "stale": timing.is_stale,
        }
    return overview
