"""Which idea first, and how sure: the closed-form posterior probability that one
category's ceiling exceeds another's, checked against brute-force simulation of the same
posterior, and the number of further reviews that would make the order clear."""

import math
import random

import pytest

from mlstrat.analytics import figures
from mlstrat.analytics.figures import (
    beta_cdf,
    ceiling_ranking,
    more_needed,
    probability_larger,
    review_tally,
)


def test_beta_cdf_matches_the_binomial_identity():
    # For whole a, b: I_x(a, b) = P(Binomial(a + b - 1, x) >= a).
    for a, b, x in [(2, 5, 0.3), (7, 3, 0.5), (1, 1, 0.25), (12, 40, 0.2), (30, 31, 0.5)]:
        n = a + b - 1
        binomial = sum(math.comb(n, j) * x**j * (1 - x) ** (n - j) for j in range(a, n + 1))
        assert beta_cdf(x, a, b) == pytest.approx(binomial, abs=1e-12)


def test_a_tie_is_a_coin_flip():
    assert probability_larger(7, 7) == pytest.approx(0.5)


def _simulate(patterns, a, b, draws=40_000, seed=1):
    """Brute force: draw the cell proportions from Dirichlet(counts + 1/2) over (A only,
    B only, both, neither) and count how often f_A > f_B."""
    cells = {"a": 0, "b": 0, "both": 0, "neither": 0}
    for kept, times in patterns:
        key = ("both" if b in kept else "a") if a in kept else ("b" if b in kept else "neither")
        cells[key] += times
    rng = random.Random(seed)
    wins = 0
    for _ in range(draws):
        g = {k: rng.gammavariate(v + figures.PRIOR, 1) for k, v in cells.items()}
        total = sum(g.values())
        f_a = (g["a"] + g["both"]) / total
        f_b = (g["b"] + g["both"]) / total
        wins += f_a > f_b
    return wins / draws


@pytest.mark.parametrize(
    "patterns",
    [
        [(("blurry",), 18), (("noisy",), 11), (("blurry", "noisy"), 9), ((), 62)],
        [(("blurry",), 4), (("noisy",), 3), ((), 20)],
        [(("blurry",), 30), (("noisy",), 5), (("blurry", "noisy"), 40), ((), 2)],
    ],
)
def test_the_closed_form_agrees_with_simulation(patterns):
    tally = {"patterns": [[list(k), t] for k, t in patterns]}
    only_a = sum(t for k, t in patterns if "blurry" in k and "noisy" not in k)
    only_b = sum(t for k, t in patterns if "noisy" in k and "blurry" not in k)
    exact = probability_larger(only_a, only_b)
    assert exact == pytest.approx(_simulate(tally["patterns"], "blurry", "noisy"), abs=0.01)


def test_more_needed_is_where_the_probability_first_reaches_95_percent():
    only_a, only_b, n = 10, 6, 100
    m = more_needed(only_a, only_b, n)
    assert m is not None and m > 0

    def p(extra):
        scale = (n + extra) / n
        return probability_larger(only_a * scale, only_b * scale)

    assert p(m) >= 0.95 > p(m - 1)


def test_more_needed_by_simulation_of_the_next_reviews():
    """If the next m errors look like these, the simulated posterior after m more is
    clear at 95%, and it is not yet after a tenth of them."""
    only_a, only_b, n = 9, 6, 80
    m = more_needed(only_a, only_b, n)
    assert m == pytest.approx(280, abs=20)
    scale = (n + m) / n
    rest = n - only_a - only_b
    patterns = [[["a"], only_a * scale], [["b"], only_b * scale], [[], rest * scale]]
    assert _simulate(patterns, "a", "b") == pytest.approx(0.95, abs=0.01)
    early = (n + m // 3) / n
    patterns = [[["a"], only_a * early], [["b"], only_b * early], [[], rest * early]]
    assert _simulate(patterns, "a", "b") < 0.93


def test_no_number_of_reviews_settles_a_tie():
    assert more_needed(5, 5, 50) is None
    assert more_needed(3, 5, 50) is None
    assert more_needed(40, 1, 50) == 0


def test_ranking_orders_by_ceiling_and_says_how_sure():
    patterns = [(1, {"blurry": 1}, 18), (1, {"noisy": 1}, 11), (1, {"blurry": 1, "noisy": 1}, 9)]
    patterns.append((1, {}, 62))
    tally = review_tally(sampled=100, patterns=patterns, rule="any")
    ranking = ceiling_ranking(tally=tally, error_rate=0.10)
    first, second = ranking["ranking"][:2]
    assert (first["category"], second["category"]) == ("blurry", "noisy")
    assert first["ceiling"] == pytest.approx(0.10 * 27 / 100)
    assert first["best_error"] == pytest.approx(0.10 * (1 - 27 / 100))
    assert first["p_above_next"] == pytest.approx(probability_larger(18, 11))
    assert first["more_needed"] == more_needed(18, 11, 100)
    assert ranking["leader"] == "blurry"
    assert ranking["leader_versus"][0]["p_leader_larger"] == first["p_above_next"]


def test_ranking_without_reviews_has_no_leader():
    tally = review_tally(sampled=10, patterns=[], rule="any")
    ranking = ceiling_ranking(tally=tally, error_rate=0.1, categories=["a", "b"])
    assert ranking["leader"] is None
    assert all(r["p_above_next"] is None for r in ranking["ranking"])
