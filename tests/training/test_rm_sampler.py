"""weighted_sampler: draw frequencies follow density_weight (chi-square on a seeded draw), seeding, bad weights."""

import math

import numpy as np
import pytest
from scipy.stats import chisquare

from grpo_bt_rm.training.rm_sampler import check_weights, weighted_sampler


def draw_counts(weights, seed, epochs):
    counts = np.zeros(len(weights))
    s = weighted_sampler(weights, seed)
    for _ in range(epochs):  # each iteration is one epoch of len(weights) draws
        np.add.at(counts, list(s), 1)
    return counts


def test_draw_frequencies_follow_the_weights():
    weights = [0.5, 1.0, 2.0, 4.0, 0.0, 2.5]  # a zero-weight row must never be drawn
    counts = draw_counts(weights, seed=123, epochs=2000)  # 12,000 draws
    assert counts.sum() == 12_000 and counts[4] == 0
    keep = [i for i, w in enumerate(weights) if w > 0]
    expected = np.array([weights[i] for i in keep]) / sum(weights) * counts.sum()
    stat, p = chisquare(counts[keep], expected)
    assert p > 1e-3, (counts, expected, stat)
    assert 6 < counts[3] / counts[0] < 10  # the 4.0 row ~8x as often as the 0.5 row


def test_the_chi_square_check_can_fail():
    """Equal weights do not pass against skewed expected frequencies, so the test above is not vacuous."""
    counts = draw_counts([1.0] * 4, seed=0, epochs=1500)
    assert chisquare(counts, np.array([1, 2, 3, 4]) / 10 * counts.sum()).pvalue < 1e-6


def test_seeded_and_epochs_differ():
    w = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    a, b = weighted_sampler(w, 5), weighted_sampler(w, 5)
    first = list(a)
    assert first == list(b) and len(first) == len(w)  # same seed: every process draws the same sequence
    assert list(a) != first  # the next epoch continues the generator
    assert list(weighted_sampler(w, 6)) != first


@pytest.mark.parametrize("weights, msg", [
    ([1.0, -1.0], "row 1"),  # negative
    ([1.0, math.nan], "row 1"),  # not finite
    ([0.0, 0.0], "no positive weight"),  # nothing to draw
    ([1.0, None], "row 1"),  # a missing value
    ([], "no positive weight"),  # empty
])
def test_bad_weights(weights, msg):
    with pytest.raises(ValueError, match=msg):
        check_weights(weights)
