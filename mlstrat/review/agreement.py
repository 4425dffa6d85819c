"""Inter-annotator agreement, pure math (no Django).

A category is a yes/no question per example; each annotator who reviewed an example
answered it (ticked = yes). Fleiss' kappa handles any number of annotators per example
(examples seen by fewer than two are skipped); Cohen's kappa is the two-person case.
"""


def fleiss_kappa(table: list[list[int]]) -> float | None:
    """Fleiss' kappa for rows of counts: table[i][j] = how many raters put item i in
    class j. Items may have different numbers of raters (at least two). None when the
    chance agreement is total (everyone always said the same), where kappa is undefined."""
    rows = [row for row in table if sum(row) >= 2]
    if not rows:
        return None
    classes = len(rows[0])
    total = sum(sum(row) for row in rows)
    p_j = [sum(row[j] for row in rows) / total for j in range(classes)]
    per_item = []
    for row in rows:
        n = sum(row)
        per_item.append((sum(c * c for c in row) - n) / (n * (n - 1)))
    p_bar = sum(per_item) / len(per_item)
    p_e = sum(p * p for p in p_j)
    if p_e >= 1:
        return None
    return (p_bar - p_e) / (1 - p_e)


def cohen_kappa(a: list[bool], b: list[bool]) -> float | None:
    """Cohen's kappa of two raters' yes/no answers on the same items."""
    if len(a) != len(b):
        raise ValueError("Both raters must answer the same items.")
    n = len(a)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    pa, pb = sum(a) / n, sum(b) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    if expected >= 1:
        return None
    return (observed - expected) / (1 - expected)


def category_agreement(answers: dict) -> dict:
    """answers: {item: (raters, ticked)} for one category, where raters is the number of
    annotators who reviewed the item and ticked how many of them ticked the category.
    Returns kappa (Fleiss), the number of items seen by two or more, and how many of
    those the annotators disagree on."""
    table = [[ticked, raters - ticked] for raters, ticked in answers.values() if raters >= 2]
    disagreements = sum(1 for yes, no in table if yes and no)
    return {"kappa": fleiss_kappa(table), "items": len(table), "disagreements": disagreements}
