"""The warm-started tiny model writes parseable, varied score tags under the launcher's system prompt."""

import json

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from grpo_bt_rm.parsing import get_parser
from grpo_bt_rm.prompts import get_prompt
from grpo_bt_rm.testing.tiny import DEFAULT_WARM_SYSTEM


def _sample(model_dir, n=24):
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    msgs = [{"role": "system", "content": DEFAULT_WARM_SYSTEM}]
    msgs += get_prompt("hh_score100_v1").render("Human: How do I bake bread?", "Mix flour and water, then bake.")
    ids = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    torch.manual_seed(0)
    out = model.generate(**ids, max_new_tokens=12, do_sample=True, temperature=1.0, num_return_sequences=n)
    return tok.batch_decode(out[:, ids["input_ids"].shape[1]:], skip_special_tokens=True)


def test_warm_model_writes_varied_tags(warm_model_dir):
    parser = get_parser("score100_first")
    scores = [parser.parse(t) for t in _sample(warm_model_dir)]
    valid = [s for s in scores if s is not None]
    assert len(valid) >= len(scores) // 2, scores  # most completions parse
    assert len(set(valid)) >= 5, valid  # and they vary, so GRPO rewards are not flat
    meta = json.loads((warm_model_dir / "warm_start.json").read_text())
    assert meta["steps"] > 0 and meta["final_loss"] < 3.0


def test_random_model_writes_no_tags(tiny_model_dir):
    parser = get_parser("score100_first")
    assert all(parser.parse(t) is None for t in _sample(tiny_model_dir, n=8))
