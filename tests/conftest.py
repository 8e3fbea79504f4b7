"""Shared fixtures: offline flags, a tiny random-weight Qwen2 built once per session, a temp base dir."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One OpenMP thread per process (inherited by the ms-swift subprocesses): on 2 shared cores, faiss and torch
# spin-waiting across threads made the k-NN tests ~10x slower (37 s vs 4 s measured) and the swift runs slower too.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny Qwen2 + BPE tokenizer on disk (built in a few seconds, shared by the whole session)."""
    from grpo_bt_rm.testing.tiny import build_tiny

    return build_tiny(tmp_path_factory.mktemp("tiny") / "tiny_qwen2")


@pytest.fixture(scope="session")
def warm_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model after `warm_start_tags`: answers judge prompts with varied `<s>NN</s>` tags (~85% parse).

    Built once per session (~10-15 s on 2 cores). Do not write into it; copy it if a test must modify it.
    """
    from grpo_bt_rm.testing.tiny import warm_start_tags

    return warm_start_tags(tiny_model_dir, tmp_path_factory.mktemp("warm") / "tiny_qwen2_warm")


@pytest.fixture(autouse=True)
def _isolated_base_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GRPO_BT_RM_BASE_DIR", str(tmp_path / "base"))
