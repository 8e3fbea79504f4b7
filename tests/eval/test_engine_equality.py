"""The engine's speed-ups change no token: prefill-once with a repeated KV cache and length-ordered batches give
exactly what plain `generate(num_return_sequences=n)` gives, greedy and sampled with the same seed."""

import pytest
import torch

from grpo_bt_rm.eval import eval_bt
from grpo_bt_rm.eval.engine import SamplingSettings, TransformersEngine, stop_token_ids
from grpo_bt_rm.eval.loading import RunInfo, load_judge, resolve_checkpoint
from grpo_bt_rm.parsing import get_parser
from grpo_bt_rm.prompts import get_prompt
from tests.eval.conftest import HH_SAMPLE


@pytest.fixture(scope="module")
def engine(warm_model_dir):
    judge = load_judge(resolve_checkpoint("base", RunInfo(None), model=str(warm_model_dir)), RunInfo(None),
                       dtype="fp32", template="qwen2_5", system="You are a judge.", model_type="qwen2")
    return TransformersEngine(judge.model, judge.tokenizer, stop_token_ids(judge.tokenizer, judge.template)), judge


@pytest.mark.parametrize("sampling", [SamplingSettings(1, False, max_new_tokens=10),
                                      SamplingSettings(4, True, 1.0, 1.0, 0, 10),
                                      SamplingSettings(3, True, 0.7, 0.9, 50, 10)])
def test_prefill_once_gives_the_same_tokens(engine, sampling, monkeypatch):
    eng, judge = engine
    calls = []
    real = eng._prefill
    monkeypatch.setattr(eng, "_prefill", lambda ids, mask: calls.append(ids.shape) or real(ids, mask))
    pairs, _ = eval_bt.select_pairs("anthropic_hh", "sample", [str(HH_SAMPLE)], 4, 0)
    prompt = get_prompt("hh_score100_v1")
    ids = [eval_bt.encode_prompt(judge.template, prompt.render(p.context, r)) for p in pairs
           for r in (p.response_0, p.response_1)]
    assert len({len(i) for i in ids}) > 1  # prompts of different lengths: left padding is exercised
    out = {}
    for prefill_once in (False, True):
        eng.prefill_once = prefill_once
        torch.manual_seed(123)
        out[prefill_once] = eng.generate(ids, sampling)
    eng.prefill_once = True
    # the prefill-once path ran (one prefill of the 8 distinct prompts) exactly when there are several samples
    assert [c[0] for c in calls] == ([8] if sampling.n_samples > 1 else [])
    assert out[True] == out[False]
    assert len({g.text for gens in out[True] for g in gens}) > 1  # not a degenerate constant output


def test_length_ordered_batches_keep_input_order_and_greedy_results(engine):
    eng, judge = engine
    pairs, _ = eval_bt.select_pairs("anthropic_hh", "sample", [str(HH_SAMPLE)], 0, 0)
    prompt, parser = get_prompt("hh_score100_v1"), get_parser("score100_first")
    greedy = SamplingSettings(1, False, max_new_tokens=8)
    one_by_one = [eval_bt.generate_records(eng, judge.template, [p], prompt, parser, greedy, 1)[0] for p in pairs]
    batched = eval_bt.generate_records(eng, judge.template, pairs, prompt, parser, greedy, 3)
    assert [r["pair_key"] for r in batched] == [p.key for p in pairs]  # input order
    assert [r["pair_index"] for r in batched] == list(range(len(pairs)))
    for a, b in zip(one_by_one, batched):
        assert a["completions_0"] == b["completions_0"] and a["completions_1"] == b["completions_1"]
