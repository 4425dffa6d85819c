"""Per-class precision / recall / F1 and calibration: hand-worked examples, scikit-learn's
metrics on generated data, and the same numbers end to end (SQL aggregate, snapshot,
API, summary export)."""

import csv
import io
import random

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from mlstrat.analytics.figures import CONFIDENCE_BINS, calibration, class_metrics
from mlstrat.analytics.services import snapshot_compute
from mlstrat.datasets.models import Example, Prediction
from tests.factories import DatasetFactory, RunFactory

approx = pytest.approx
CLASSES = ["cat", "dog", "bird", "fish"]


# Hand-worked ------------------------------------------------------------------------------


def test_two_classes_by_hand():
    # 8 cats: 6 right, 2 called dog; 4 dogs: 3 right, 1 called cat.
    m = class_metrics([("cat", "cat", 6), ("cat", "dog", 2), ("dog", "dog", 3), ("dog", "cat", 1)])
    cat, dog = m["classes"]
    assert (cat["label"], cat["support"], cat["tp"]) == ("cat", 8, 6)
    assert cat["precision"] == approx(6 / 7) and cat["recall"] == approx(6 / 8)
    assert cat["f1"] == approx(2 * (6 / 7) * (6 / 8) / (6 / 7 + 6 / 8))
    assert dog["precision"] == approx(3 / 5) and dog["recall"] == approx(3 / 4)
    assert m["accuracy"] == approx(9 / 12)
    assert m["macro"]["recall"] == approx((6 / 8 + 3 / 4) / 2)
    assert m["weighted"]["precision"] == approx((8 * 6 / 7 + 4 * 3 / 5) / 12)


def test_a_class_never_predicted_has_no_precision_and_a_class_without_examples_no_recall():
    m = class_metrics([("cat", "dog", 3), ("dog", "dog", 2)], labels=["cat", "dog", "bird"])
    by = {c["label"]: c for c in m["classes"]}
    assert by["cat"]["precision"] is None and by["cat"]["recall"] == 0.0
    assert by["cat"]["f1"] is None
    assert "bird" not in by  # neither in the data nor predicted: no row
    # Macro counts the undefined precision as 0, like scikit-learn's default.
    assert m["macro"]["precision"] == approx((0 + 2 / 5) / 2)


def test_no_predictions_at_all():
    m = class_metrics([])
    assert m["classes"] == [] and m["accuracy"] is None and m["macro"]["f1"] is None


def test_calibration_by_hand():
    # Bin 9 (0.9, 1]: 8 right, 2 wrong, mean confidence 0.95; bin 5: 1 right, 1 wrong at 0.55.
    correct, wrong, sums = [0] * 10, [0] * 10, [0.0] * 10
    correct[9], wrong[9], sums[9] = 8, 2, 9.5
    correct[5], wrong[5], sums[5] = 1, 1, 1.1
    c = calibration(correct, wrong, sums)
    assert c["bins"][9]["accuracy"] == approx(0.8) and c["bins"][9]["confidence"] == approx(0.95)
    assert c["bins"][0]["accuracy"] is None and c["bins"][0]["n"] == 0
    assert c["ece"] == approx(10 / 12 * 0.15 + 2 / 12 * 0.05)
    assert c["mce"] == approx(0.15)
    assert (c["n"], c["correct"], c["wrong"]) == (12, 9, 3)


def test_calibration_without_confidences_is_none():
    c = calibration([0] * 10, [0] * 10, [0.0] * 10)
    assert c["ece"] is None and c["mce"] is None and c["n"] == 0


# Against scikit-learn on generated data ---------------------------------------------------


def generated(seed, n=3000):
    """A miscalibrated classifier: confident, right about 70% of the time."""
    rng = np.random.default_rng(seed)
    y_true = rng.choice(CLASSES, size=n, p=[0.4, 0.3, 0.2, 0.1])
    right = rng.random(n) < 0.7
    y_pred = np.where(right, y_true, rng.choice(CLASSES, size=n))
    confidence = np.clip(rng.beta(5, 2, size=n), 0.0, 1.0)
    return y_true, y_pred, confidence


def cells_of(y_true, y_pred):
    counts = {}
    for t, p in zip(y_true, y_pred, strict=True):
        counts[(t, p)] = counts.get((t, p), 0) + 1
    return [(t, p, n) for (t, p), n in counts.items()]


def bins_of(y_true, y_pred, confidence):
    """Right/wrong/sum per bin, binned as scikit-learn's uniform calibration curve."""
    edges = np.linspace(0.0, 1.0, CONFIDENCE_BINS + 1)
    ids = np.searchsorted(edges[1:-1], confidence)
    right = y_true == y_pred
    correct = np.bincount(ids[right], minlength=CONFIDENCE_BINS).tolist()
    wrong = np.bincount(ids[~right], minlength=CONFIDENCE_BINS).tolist()
    sums = np.bincount(ids, weights=confidence, minlength=CONFIDENCE_BINS).tolist()
    return correct, wrong, sums


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_class_metrics_match_scikit_learn(seed):
    y_true, y_pred, _ = generated(seed)
    m = class_metrics(cells_of(y_true, y_pred), labels=CLASSES)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=CLASSES, zero_division=0)
    by = {c["label"]: c for c in m["classes"]}
    for i, name in enumerate(CLASSES):
        assert by[name]["precision"] == approx(p[i])
        assert by[name]["recall"] == approx(r[i])
        assert by[name]["f1"] == approx(f[i])
        assert by[name]["support"] == s[i]
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=CLASSES, average=average, zero_division=0
        )
        assert m[average]["precision"] == approx(p)
        assert m[average]["recall"] == approx(r)
        assert m[average]["f1"] == approx(f)
    assert m["accuracy"] == approx(accuracy_score(y_true, y_pred))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reliability_diagram_matches_scikit_learn(seed):
    y_true, y_pred, confidence = generated(seed)
    c = calibration(*bins_of(y_true, y_pred, confidence))
    prob_true, prob_pred = calibration_curve(
        y_true == y_pred, confidence, n_bins=CONFIDENCE_BINS, strategy="uniform"
    )
    shown = [b for b in c["bins"] if b["n"]]
    assert [b["accuracy"] for b in shown] == approx(prob_true.tolist())
    assert [b["confidence"] for b in shown] == approx(prob_pred.tolist())
    counts, _ = np.histogram(confidence, bins=CONFIDENCE_BINS, range=(0, 1))
    weights = np.array([b["n"] for b in shown]) / len(confidence)
    assert c["ece"] == approx(float(np.sum(weights * np.abs(prob_true - prob_pred))))
    assert sum(b["n"] for b in c["bins"]) == counts.sum() == len(confidence)


# End to end: the SQL aggregate and the snapshot give the same numbers ---------------------


@pytest.fixture
def scored_run(project):
    """A run whose predictions on dev and test come from generated(), confidence kept."""
    dataset = DatasetFactory(project=project, name="pets", class_names=CLASSES)
    run = RunFactory(dataset=dataset)
    data = {}
    for split, seed in (("dev", 5), ("test", 6)):
        y_true, y_pred, confidence = generated(seed, n=600)
        examples = Example.objects.bulk_create(
            [
                Example(
                    dataset=dataset,
                    example_id=f"{split}{i}",
                    label=t,
                    original_label=t,
                    split=split,
                    image="x.png",
                )
                for i, t in enumerate(y_true)
            ]
        )
        Prediction.objects.bulk_create(
            [
                Prediction(
                    run=run,
                    example=e,
                    split=split,
                    predicted_label=p,
                    confidence=float(conf),
                    is_error=p != e.label,
                )
                for e, p, conf in zip(examples, y_pred, confidence, strict=True)
            ]
        )
        data[split] = (y_true, y_pred, confidence)
    return run, data


def test_the_api_shows_scikit_learns_numbers_per_split(api, carol, scored_run):
    run, data = scored_run
    snapshot_compute(run=run)
    api.force_authenticate(carol)
    body = api.get(f"/api/v1/analytics/runs/{run.pk}/").json()
    for split, (y_true, y_pred, confidence) in data.items():
        metrics = body["class_metrics"][split]
        p, r, f, s = precision_recall_fscore_support(
            y_true, y_pred, labels=CLASSES, zero_division=0
        )
        by = {c["label"]: c for c in metrics["classes"]}
        assert [by[name]["precision"] for name in CLASSES] == approx(p.tolist())
        assert [by[name]["recall"] for name in CLASSES] == approx(r.tolist())
        assert [by[name]["f1"] for name in CLASSES] == approx(f.tolist())
        assert [by[name]["support"] for name in CLASSES] == s.tolist()
        prob_true, prob_pred = calibration_curve(
            y_true == y_pred, confidence, n_bins=CONFIDENCE_BINS
        )
        shown = [b for b in body["calibration"][split]["bins"] if b["n"]]
        assert [b["accuracy"] for b in shown] == approx(prob_true.tolist())
        assert [b["confidence"] for b in shown] == approx(prob_pred.tolist())
        correct, wrong, _ = bins_of(y_true, y_pred, confidence)
        assert [b["correct"] for b in body["calibration"][split]["bins"]] == correct
        assert [b["wrong"] for b in body["calibration"][split]["bins"]] == wrong
        assert body["calibration"][split]["ece"] == approx(
            calibration(*bins_of(y_true, y_pred, confidence))["ece"]
        )
    assert body["calibration"]["train"] is None  # no predictions on train
    assert body["class_metrics"]["train"]["classes"] == []


def test_a_run_without_confidences_has_no_reliability_diagram(api, carol, project):
    dataset = DatasetFactory(project=project, name="pets", class_names=CLASSES)
    run = RunFactory(dataset=dataset)
    example = Example.objects.create(
        dataset=dataset, example_id="a", label="cat", original_label="cat", split="dev"
    )
    Prediction.objects.create(
        run=run, example=example, split="dev", predicted_label="dog", confidence=None, is_error=True
    )
    snapshot_compute(run=run)
    api.force_authenticate(carol)
    body = api.get(f"/api/v1/analytics/runs/{run.pk}/").json()
    assert body["calibration"]["dev"] is None
    assert body["class_metrics"]["dev"]["classes"][0]["recall"] == 0.0


def test_the_summary_export_has_the_same_numbers(client, carol, scored_run, project):
    run, data = scored_run
    snapshot_compute(run=run)
    client.force_login(carol)
    response = client.get(f"/p/{project.slug}/runs/{run.pk}/export/summary.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    y_true, y_pred, confidence = data["dev"]
    p, r, _, s = precision_recall_fscore_support(y_true, y_pred, labels=CLASSES, zero_division=0)
    recall = {
        row["item"]: row for row in rows if row["section"] == "recall" and row["split"] == "dev"
    }
    assert float(recall["dog"]["value"]) == approx(r[1])
    assert int(recall["dog"]["n"]) == s[1]
    precision = {
        row["item"]: row for row in rows if row["section"] == "precision" and row["split"] == "dev"
    }
    assert float(precision["bird"]["value"]) == approx(p[2])
    ece = next(r for r in rows if r["section"] == "calibration" and r["item"] == "ECE")
    assert ece["split"] == "dev"
    c = calibration(*bins_of(y_true, y_pred, confidence))
    assert float(ece["value"]) == approx(c["ece"])


def test_old_snapshots_are_recomputed_in_the_new_shape(api, carol, scored_run):
    run, _ = scored_run
    snap = snapshot_compute(run=run)
    figures = dict(snap.figures, schema=1)
    figures.pop("calibration")
    type(snap).objects.filter(pk=snap.pk).update(figures=figures)
    api.force_authenticate(carol)
    # The read asks for a recompute (tasks run in-process in tests): figures come back whole.
    body = api.get(f"/api/v1/analytics/runs/{run.pk}/").json()
    snap.refresh_from_db()
    assert snap.figures["schema"] == 4
    body = api.get(f"/api/v1/analytics/runs/{run.pk}/").json()
    assert body["ready"] is True and body["calibration"]["dev"]["ece"] is not None


def test_random_cells_give_rates_between_zero_and_one():
    rng = random.Random(4)
    cells = [(rng.choice(CLASSES), rng.choice(CLASSES), rng.randint(0, 5)) for _ in range(40)]
    m = class_metrics(cells)
    for row in m["classes"]:
        for key in ("precision", "recall", "f1"):
            assert row[key] is None or 0.0 <= row[key] <= 1.0
