"""k-NN prompt density in embedding space (faiss) and the inverse-density weights derived from it.

    dist = knn_mean_dist(vectors, k=10)                  # cosine distance, self excluded
    w = density_weights(dist, alpha=1.0, max_ratio=100, counts=pairs_per_prompt)   # mean 1 over pairs

The math is plain numpy over arrays; faiss is only used to find neighbours.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

# Above this many prompts an approximate index is used unless the caller forces one (see `knn_mean_dist`).
EXACT_THRESHOLD = 50_000


@dataclass(frozen=True)
class IndexSpec:
    """Which faiss index to build. kind: 'exact' (flat inner product), 'ivf' (IVF lists of 4-bit PQ fast-scan codes,
    the default above `exact_threshold`; its candidates are re-ranked with exact cosine) or 'hnsw' (graph over the
    full vectors; twice the memory, and on clustered data its k-NN distances can be far off, see
    docs/bench_density.md). nlist/nprobe apply to ivf, hnsw_m/ef_* to hnsw."""

    kind: str = "auto"
    nlist: int | None = None  # default: about 4*sqrt(n)
    nprobe: int = 8
    hnsw_m: int = 16
    ef_construction: int = 40
    ef_search: int = 64
    exact_threshold: int = EXACT_THRESHOLD

    def resolve(self, n: int) -> str:
        """The index kind to build for `n` vectors: the given kind, or for "auto" exact up to
        `exact_threshold` vectors and ivf above.

        Raises:
            ValueError: `kind` is not auto, exact, ivf or hnsw.
        """
        if self.kind not in ("auto", "exact", "ivf", "hnsw"):
            raise ValueError(f"index kind must be auto, exact, ivf or hnsw; got {self.kind!r}")
        if self.kind != "auto":
            return self.kind
        return "exact" if n <= self.exact_threshold else "ivf"


def normalize_rows(x: np.ndarray, inplace: bool = False) -> np.ndarray:
    """L2-normalise rows to float32 (zero rows stay zero), so inner product = cosine similarity. With `inplace`
    a C-contiguous float32 input is overwritten instead of copied (halves peak memory for large sets)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not inplace:
        x = x.copy()
    for s in range(0, len(x), 100_000):  # chunked, so no full-size temporary is allocated
        block = x[s : s + 100_000]
        block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
    return x


def _build_index(x: np.ndarray, kind: str, spec: IndexSpec, seed: int):
    import faiss

    n, d = x.shape
    if kind == "exact":
        index = faiss.IndexFlatIP(d)
    elif kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, spec.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = spec.ef_construction
        index.hnsw.efSearch = spec.ef_search
    else:  # ivf: 4-bit PQ fast-scan codes (d/8 bytes per vector) give candidates; distances are re-ranked exactly
        nlist = spec.nlist or int(min(4096, max(16, math.sqrt(n))))
        nlist = max(1, min(nlist, n // 39))
        m = next(m for m in (d // 2, d // 2, d) if m > 0 and d % m == 0)
        index = faiss.index_factory(d, f"IVF{nlist},PQ{m}x4fs", faiss.METRIC_INNER_PRODUCT)
        rng = np.random.default_rng(seed)
        n_train = min(n, max(nlist * 39, 20_000))
        sample = x[np.sort(rng.choice(n, size=n_train, replace=False))] if n_train < n else x
        ivf = faiss.extract_index_ivf(index)
        ivf.cp.seed = seed
        ivf.cp.niter = 10
        index.train(sample)
        ivf.nprobe = min(spec.nprobe, nlist)
    chunk = 100_000
    for start in range(0, n, chunk):
        index.add(x[start : start + chunk])
    return index


def knn_search(x: np.ndarray, k: int, spec: IndexSpec | None = None, seed: int = 0,
               progress: bool = False) -> tuple[np.ndarray, np.ndarray, str]:
    """Indices and cosine similarities of each row's k nearest *other* rows, plus the index kind used.

    `x` must be L2-normalised. The row itself is removed from its own result wherever it appears (with exact
    duplicates it need not be rank 0); if it does not appear, the k nearest returned are kept."""
    spec = spec or IndexSpec()
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 prompts for k-NN density, got {n}")
    k_eff = min(k, n - 1)
    kind = spec.resolve(n)
    index = _build_index(x, kind, spec, seed)
    idx_out = np.empty((n, k_eff), dtype=np.int64)
    sim_out = np.empty((n, k_eff), dtype=np.float32)
    batch = 2048
    starts = range(0, n, batch)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc=f"k-NN ({kind})", unit="batch")
    n_query = k_eff + 1 if kind != "ivf" else min(n, max(10 * (k_eff + 1), 32))
    for start in starts:
        q = x[start : start + batch]
        sims, ids = index.search(q, n_query)
        if kind == "ivf":  # exact cosine for the candidates, from the vectors we hold (no second copy in faiss)
            sims = np.einsum("bd,bkd->bk", q, x[np.maximum(ids, 0)]).astype(np.float32)
        own = np.arange(start, start + len(q))[:, None]
        # drop the row itself (with exact duplicates it need not be rank 0) and faiss's "no result" marker (-1)
        sims = np.where((ids == own) | (ids < 0), -np.inf, sims)
        order = np.argsort(-sims, axis=1, kind="stable")[:, :k_eff]
        got_ids = np.take_along_axis(ids, order, axis=1)
        got_sims = np.take_along_axis(sims, order, axis=1)
        missing = ~np.isfinite(got_sims)  # an approximate index can return fewer than k_eff others
        idx_out[start : start + len(q)] = np.where(missing, -1, got_ids)
        sim_out[start : start + len(q)] = np.where(missing, -1.0, got_sims)  # treated as maximally far
    return idx_out, sim_out, kind


def knn_mean_dist(x: np.ndarray, k: int = 10, spec: IndexSpec | None = None, seed: int = 0,
                  progress: bool = False, inplace: bool = False) -> tuple[np.ndarray, str]:
    """Mean cosine distance (1 - cos) to each row's k nearest other rows; `x` is normalised here (in place when
    `inplace` and it is float32)."""
    _, sims, kind = knn_search(normalize_rows(x, inplace=inplace), k, spec, seed, progress)
    dist = np.clip(1.0 - sims.astype(np.float64), 0.0, 2.0)
    return dist.mean(axis=1), kind


def clip_ratio(w: np.ndarray, max_ratio: float) -> np.ndarray:
    """Clip positive weights into a window [lo, lo * max_ratio].

    If the weights already fit, nothing changes. Otherwise the window is centred (in log space) on the median
    weight, then slid so it does not reach past the data at either end; values outside are moved to its edges."""
    if max_ratio < 1:
        raise ValueError(f"max_ratio must be >= 1, got {max_ratio}")
    w = np.asarray(w, dtype=np.float64)
    w_min, w_max = float(w.min()), float(w.max())
    if w_max <= w_min * max_ratio:
        return w.copy()
    lo = float(np.median(w)) / math.sqrt(max_ratio)
    lo = min(max(lo, w_min), w_max / max_ratio)
    return np.clip(w, lo, lo * max_ratio)


def density_weights(mean_dist: np.ndarray, alpha: float = 1.0, max_ratio: float = 100.0,
                    counts: np.ndarray | None = None, eps: float = 1e-6) -> np.ndarray:
    """Per-prompt weights ∝ density^(-alpha), density = 1 / mean k-NN distance; clipped, mean 1 over pairs.

    density^(-alpha) = mean_dist^alpha, so a zero distance (exact duplicate embeddings) needs no division: it is
    floored at `eps` and then lifted by the clip. `counts[i]` is how many pairs use prompt i (default 1 each);
    the result satisfies sum(w * counts) == sum(counts).

    >>> w = density_weights(np.array([0.1, 0.1, 0.4]), alpha=1.0)
    >>> [round(float(v), 4) for v in w]
    [0.5, 0.5, 2.0]
    """
    d = np.asarray(mean_dist, dtype=np.float64)
    if d.ndim != 1 or d.size == 0:
        raise ValueError(f"mean_dist must be a non-empty 1-d array, got shape {d.shape}")
    if not np.isfinite(d).all():
        raise ValueError("mean_dist contains NaN or inf")
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    c = np.ones_like(d) if counts is None else np.asarray(counts, dtype=np.float64)
    if c.shape != d.shape or (c <= 0).any():
        raise ValueError("counts must be positive and have one entry per prompt")
    raw = np.maximum(d, eps) ** alpha
    w = clip_ratio(raw, max_ratio)
    return w * (c.sum() / float((w * c).sum()))


def effective_sample_size(w: np.ndarray, counts: np.ndarray | None = None) -> float:
    """(Σw)² / Σw² over pairs (each prompt's weight repeated `counts` times)."""
    w = np.asarray(w, dtype=np.float64)
    c = np.ones_like(w) if counts is None else np.asarray(counts, dtype=np.float64)
    return float((w * c).sum() ** 2 / (w * w * c).sum())
