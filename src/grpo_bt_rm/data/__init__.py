"""Preference-pair sources and the pointwise dataset builder.

    from grpo_bt_rm.data import load_pairs; pairs, stats = load_pairs("anthropic_hh", "test", data_files=[...])
"""

from grpo_bt_rm.data.adapters import ADAPTERS, Adapter, get_adapter, load_pairs
from grpo_bt_rm.data.pairs import Drop, LoadStats, Pair, pair_key, prompt_id

__all__ = ["ADAPTERS", "Adapter", "Drop", "LoadStats", "Pair", "get_adapter", "load_pairs", "pair_key", "prompt_id"]
