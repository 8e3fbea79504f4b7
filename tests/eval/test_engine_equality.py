"""The engine's speed-ups change no token: the pair's shared prefix prefilled once, each prompt prefilled once with
its KV cache repeated per sample, KV heads not copied, and length-ordered batches give exactly what plain
left-padded `generate(num_return_sequences=n)` gives, greedy and sampled with the same seed."""

import pytest
import torch

from grpo_bt_rm.eval import judge as eval_judge
from grpo_bt_rm.eval.engine import SamplingSettings, TransformersEngine, stop_token_ids
from grpo_bt_rm.eval.loading import RunInfo, load_judge, resolve_checkpoint
from grpo_bt_rm.parsing import get_parser
from grpo_bt_rm.prompts import get_prompt
from tests.eval.conftest import HH_SAMPLE, REPO


@pytest.fixture(scope="module")
def engine(warm_model_dir):
    judge = load_judge(resolve_checkpoint("base", RunInfo(None), model=str(warm_model_dir)), RunInfo(None),
                       dtype="fp32", template="qwen2_5", system="You are a judge.", model_type="qwen2")
    return TransformersEngine(judge.model, judge.tokenizer, stop_token_ids(judge.tokenizer, judge.template)), judge


@pytest.mark.parametrize("sampling", [SamplingSettings(1, False, max_new_tokens=10),
                                      SamplingSettings(4, True, 1.0, 1.0, 0, 10),
                                      SamplingSettings(3, True, 0.7, 0.9, 50, 10)])
@pytest.mark.parametrize("paired", [False, True])
def test_reused_prefill_gives_the_same_tokens(engine, sampling, paired, monkeypatch):
    eng, judge = engine
    calls = []
    real = eng._prefill
    monkeypatch.setattr(eng, "_prefill", lambda ids, mask, cache=None: calls.append(ids.shape) or real(ids, mask,
                                                                                                         cache))
    pairs, _ = eval_judge.select_pairs("anthropic_hh", "sample", [str(HH_SAMPLE)], 4, 0)
    prompt = get_prompt("hh_score100_v1")
    ids = [eval_judge.encode_prompt(judge.template, prompt.render(p.context, r)) for p in pairs
           for r in (p.response_0, p.response_1)]
    assert len({len(i) for i in ids}) > 1  # prompts of different lengths: left padding is exercised
    out = {}
    for reuse in (False, True):
        eng.reuse_prefill = reuse
        torch.manual_seed(123)
        out[reuse] = eng.generate(ids, sampling, paired=paired)
    eng.reuse_prefill = True
    # the shortcuts really ran: the 4 pairs' shared prefixes (paired), then the 8 prompts' rest (n > 1)
    assert [c[0] for c in calls] == [4] * paired + [8] * (sampling.n_samples > 1)
    if paired:
        assert calls[0][1] > 10  # the shared prefix covers the template, system prompt and instructions
    assert_same_generations(out[True], out[False])
    assert any(g.digits for gens in out[True] for g in gens)  # digits were recorded
    assert len({g.text for gens in out[True] for g in gens}) > 1  # not a degenerate constant output


def assert_same_generations(a, b) -> None:
    """The same texts and truncation flags; the digit log-probabilities at the same digit tokens, their values
    equal to float rounding (the prefill order of the sums differs)."""
    assert [[g[:2] for g in gens] for gens in a] == [[g[:2] for g in gens] for gens in b]
    for x, y in zip((g for gens in a for g in gens), (g for gens in b for g in gens)):
        assert [e[0] for e in x.digits] == [e[0] for e in y.digits]
        for (_, lx), (_, ly) in zip(x.digits, y.digits):
            assert lx == pytest.approx(ly, abs=1e-4)


def test_folded_gqa_is_the_attention_in_use_and_matches_sdpa(engine):
    from grpo_bt_rm.eval.engine import FOLDED_GQA

    eng, _ = engine
    assert eng.model.config._attn_implementation == FOLDED_GQA  # the tiny Qwen2 has 4 heads over 2 KV heads
    ids = torch.tensor([[5, 6, 7, 8, 9], [0, 0, 7, 8, 9]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]])
    with torch.inference_mode():
        folded = eng.model(input_ids=ids, attention_mask=mask).logits
        eng.model.set_attn_implementation("sdpa")
        try:
            stock = eng.model(input_ids=ids, attention_mask=mask).logits
        finally:
            eng.model.set_attn_implementation(FOLDED_GQA)
    assert torch.allclose(folded[:, 2:], stock[:, 2:], atol=1e-5)  # real positions; padding rows are not used


def test_length_ordered_batches_keep_input_order_and_greedy_results(engine):
    eng, judge = engine
    pairs, _ = eval_judge.select_pairs("anthropic_hh", "sample", [str(HH_SAMPLE)], 0, 0)
    prompt, parser = get_prompt("hh_score100_v1"), get_parser("score100_first")
    greedy = SamplingSettings(1, False, max_new_tokens=8)
    one_by_one = [eval_judge.generate_records(eng, judge.template, [p], prompt, parser, greedy, 1)[0] for p in pairs]
    batched = eval_judge.generate_records(eng, judge.template, pairs, prompt, parser, greedy, 3)
    assert [r["pair_key"] for r in batched] == [p.key for p in pairs]  # input order
    assert [r["pair_index"] for r in batched] == list(range(len(pairs)))
    for a, b in zip(one_by_one, batched):
        assert a["completions_0"] == b["completions_0"] and a["completions_1"] == b["completions_1"]


HH_REAL = REPO.parent / "shared" / "data" / "hh-rlhf" / "harmless-base-test.dev.jsonl.gz"


@pytest.mark.slow  # ~2-4 min on 2 cores: converts SmolLM2 once, then 3 pairs x 3 settings x 2 schedules
def test_same_tokens_on_the_real_model(tmp_path):
    """The same equality on SmolLM2-135M-Instruct with real HH pairs and the `<s>` pre-fill (GQA: 9 heads, 3 KV)."""
    from grpo_bt_rm.smollm2 import MODEL_TYPE, TEMPLATE, ensure_model

    model_dir = ensure_model()
    judge = load_judge(resolve_checkpoint("base", RunInfo(None), model=str(model_dir)), RunInfo(None),
                       dtype="fp32", template=TEMPLATE, model_type=MODEL_TYPE, system="You are a judge.",
                       response_prefix="<s>")
    eng = TransformersEngine(judge.model, judge.tokenizer, stop_token_ids(judge.tokenizer, judge.template))
    pairs, _ = eval_judge.select_pairs("anthropic_hh", "test", [str(HH_REAL)], 3, 0)
    prompt = get_prompt("hh_score100_v1")
    ids = [eval_judge.encode_prompt(judge.template, prompt.render(p.context, r)) for p in pairs
           for r in (p.response_0, p.response_1)]
    for sampling in (SamplingSettings(1, False, max_new_tokens=8), SamplingSettings(3, True, 1.0, 1.0, 0, 8)):
        out = {}
        for reuse in (False, True):
            eng.reuse_prefill = reuse
            torch.manual_seed(7)
            out[reuse] = eng.generate(ids, sampling, paired=True)
        assert_same_generations(out[True], out[False])


def test_digit_logprobs_are_the_models_own_at_the_last_digit(engine):
    """The recorded distribution at a score's last digit is what one plain forward pass over prompt + answer so
    far gives there (no off-by-one between generation steps and tokens), and the expected readout uses it."""
    from grpo_bt_rm.eval.completions import to_pair_scores
    from grpo_bt_rm.eval.expected_score import expected_score

    eng, judge = engine
    pairs, _ = eval_judge.select_pairs("anthropic_hh", "sample", [str(HH_SAMPLE)], 0, 0)
    prompt, parser = get_prompt("hh_score100_v1"), get_parser("score100_first")
    records = eval_judge.generate_records(eng, judge.template, pairs, prompt, parser,
                                          SamplingSettings(1, False, max_new_tokens=10), 3)
    checked = 0
    for rec, pr in zip(records, pairs):
        exp = to_pair_scores(rec, parser, "expected")
        for k, response in ((0, pr.response_0), (1, pr.response_1)):
            text = rec[f"completions_{k}"][0]
            res, span = parser.locate(text, rec[f"truncated_{k}"][0])
            if res.score is None:
                continue
            ids = eval_judge.encode_prompt(judge.template, prompt.render(pr.context, response))
            answer = judge.tokenizer(text[:span[1] - 1], add_special_tokens=False)["input_ids"]
            with torch.inference_mode():
                logits = eng.model(input_ids=torch.tensor([ids + answer])).logits[0, -1]
            want = logits.float().log_softmax(-1)[eng.digit_ids].tolist()
            entry = next(e for e in rec[f"digit_logprobs_{k}"][0] if e[0] == span[1])
            assert entry[1] == pytest.approx(want, abs=1e-3)
            score = (exp.scores_0 if k == 0 else exp.scores_1)[0]
            direct, _ = expected_score(text, rec[f"truncated_{k}"][0], parser, [[span[1], want]])
            assert score == pytest.approx(direct.score, abs=1e-3)
            checked += 1
    assert checked >= 4
