"""k-NN density weights on synthetic clusters: isolated prompts weigh more, duplicates are safe, clip holds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grpo_bt_rm.density.knn import (
    IndexSpec,
    clip_ratio,
    density_weights,
    effective_sample_size,
    knn_mean_dist,
    knn_search,
    normalize_rows,
)


def clusters(seed=0, dense=60, isolated=6, dim=32, dups=0):
    """A tight cluster around one direction, plus isolated random directions (and optional exact duplicates)."""
    rng = np.random.default_rng(seed)
    centre = rng.standard_normal(dim)
    dense_pts = centre + 0.05 * rng.standard_normal((dense, dim))
    iso = rng.standard_normal((isolated, dim)) * 3
    x = np.vstack([dense_pts, iso] + ([np.repeat(dense_pts[:1], dups, axis=0)] if dups else []))
    return x.astype(np.float32)


def test_isolated_prompts_get_larger_weights_and_mean_is_one():
    x = clusters()
    d, kind = knn_mean_dist(x, k=5)
    assert kind == "exact"
    w = density_weights(d, alpha=1.0, max_ratio=1000)
    assert w[:60].max() < w[60:].min()  # every isolated point outweighs every clustered one
    assert w.mean() == pytest.approx(1.0)
    assert np.all(np.isfinite(w)) and np.all(w > 0)


def test_weights_are_deterministic():
    x = clusters(seed=3)
    w1 = density_weights(knn_mean_dist(x, k=5)[0])
    w2 = density_weights(knn_mean_dist(x.copy(), k=5)[0])
    np.testing.assert_array_equal(w1, w2)


def test_exact_duplicates_do_not_crash_and_self_is_excluded():
    x = clusters(dups=12)  # 13 identical copies of point 0: their 5-NN distance is 0
    ids, sims, _ = knn_search(normalize_rows(x), k=5, spec=IndexSpec(kind="exact"))
    assert not (ids == np.arange(len(x))[:, None]).any()  # a row is never its own neighbour
    d, _ = knn_mean_dist(x, k=5)
    assert d[0] == pytest.approx(0.0, abs=1e-5)
    w = density_weights(d, max_ratio=100)
    assert np.all(np.isfinite(w)) and w.max() / w.min() <= 100 * (1 + 1e-9)
    assert w.mean() == pytest.approx(1.0)


def test_alpha_zero_is_uniform_and_alpha_sharpens():
    d = knn_mean_dist(clusters(), k=5)[0]
    np.testing.assert_allclose(density_weights(d, alpha=0.0), 1.0)
    w1, w2 = density_weights(d, alpha=1.0, max_ratio=1e9), density_weights(d, alpha=2.0, max_ratio=1e9)
    assert w2.max() / w2.min() == pytest.approx((w1.max() / w1.min()) ** 2, rel=1e-6)


def test_counts_make_the_mean_one_over_pairs():
    d = np.array([0.1, 0.2, 0.4])
    counts = np.array([5, 1, 2])
    w = density_weights(d, counts=counts)
    assert (w * counts).sum() / counts.sum() == pytest.approx(1.0)
    assert effective_sample_size(np.ones(3), counts) == pytest.approx(8.0)  # uniform weights: ESS = pairs


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 2.0), min_size=2, max_size=60), st.floats(1.0, 500.0),
       st.lists(st.integers(1, 5), min_size=60, max_size=60), st.floats(0.0, 3.0))
def test_clip_ratio_and_mean_hold_for_any_input(dists, max_ratio, counts, alpha):
    d = np.array(dists)
    c = np.array(counts[: len(d)])
    w = density_weights(d, alpha=alpha, max_ratio=max_ratio, counts=c)
    assert np.all(np.isfinite(w)) and np.all(w > 0)
    assert w.max() / w.min() <= max_ratio * (1 + 1e-9)
    assert (w * c).sum() / c.sum() == pytest.approx(1.0)
    # ordering is preserved (clipping may only tie values): larger distance never gets a smaller weight
    order = np.argsort(np.maximum(d, 1e-6), kind="stable")
    assert np.all(np.diff(w[order]) >= -1e-12)


def test_clip_ratio_leaves_fitting_weights_alone_and_centres_on_median():
    w = np.array([1.0, 2.0, 50.0])
    np.testing.assert_array_equal(clip_ratio(w, 100), w)
    clipped = clip_ratio(np.array([0.001, 1.0, 1.0, 1.0, 1000.0]), 100)
    assert clipped.max() / clipped.min() == pytest.approx(100)
    assert clipped[1] == 1.0  # the bulk at the median is untouched; both tails are pulled in
    with pytest.raises(ValueError, match="max_ratio"):
        clip_ratio(w, 0.5)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_indexes_agree_with_exact(kind):
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, 48))
    x = (centres[rng.integers(0, 20, 3000)] + 0.3 * rng.standard_normal((3000, 48))).astype(np.float32)
    xn = normalize_rows(x)
    exact_ids, _, _ = knn_search(xn, 10, IndexSpec(kind="exact"))
    approx_ids, _, used = knn_search(xn, 10, IndexSpec(kind=kind, nlist=50, nprobe=10))
    assert used == kind
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(exact_ids, approx_ids, strict=True)])
    assert recall >= 0.9
    d_exact = knn_mean_dist(x, 10, IndexSpec(kind="exact"))[0]
    d_approx = knn_mean_dist(x, 10, IndexSpec(kind=kind, nlist=50, nprobe=10))[0]
    assert np.corrcoef(d_exact, d_approx)[0, 1] > 0.95


def test_auto_switches_to_approximate_above_threshold():
    assert IndexSpec(exact_threshold=100).resolve(100) == "exact"
    assert IndexSpec(exact_threshold=100).resolve(101) == "ivf"
    with pytest.raises(ValueError, match="index kind"):
        IndexSpec(kind="lsh").resolve(10)


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="at least 2"):
        knn_mean_dist(np.ones((1, 4)), k=3)
    with pytest.raises(ValueError, match="NaN"):
        density_weights(np.array([0.1, np.nan]))
