"""Likely bad labels first: how unlikely is an example's given label under a model?

Pure functions (no Django), as in confident learning (Northcutt et al., cleanlab's
`rank.get_label_quality_scores`):

- self-confidence: p(given label). Low means the model does not believe the label.
- normalized margin: p(given label) - max p(other class), in [-1, 1]. Negative means the
  model prefers another class, and by how much.

Lower scores are reviewed first.
"""

from collections.abc import Iterable, Mapping

SELF_CONFIDENCE = "self_confidence"
MARGIN = "margin"
METHODS = (SELF_CONFIDENCE, MARGIN)


def self_confidence(probabilities: Mapping[str, float], label: str) -> float:
    """p(label); a label the model gives no probability to scores 0."""
    return float(probabilities.get(label) or 0.0)


def normalized_margin(probabilities: Mapping[str, float], label: str) -> float:
    """p(label) minus the largest probability of any other class."""
    others = [float(p or 0.0) for name, p in probabilities.items() if name != label]
    return self_confidence(probabilities, label) - (max(others) if others else 0.0)


def label_quality(probabilities: Mapping[str, float], label: str) -> tuple[float, float]:
    """(self_confidence, normalized_margin) of one example."""
    return self_confidence(probabilities, label), normalized_margin(probabilities, label)


def rank_by_label_quality(
    rows: Iterable[tuple[object, Mapping[str, float], str]], *, method: str = SELF_CONFIDENCE
) -> list[tuple[object, float]]:
    """Order (key, probabilities, label) rows with the least likely label first.

    Ties keep the order of the keys, so the ranking is reproducible."""
    if method not in METHODS:
        raise ValueError(f"Rank by one of {', '.join(METHODS)}.")
    score = self_confidence if method == SELF_CONFIDENCE else normalized_margin
    scored = [(key, score(probabilities, label)) for key, probabilities, label in rows]
    return sorted(scored, key=lambda pair: (pair[1], pair[0]))
