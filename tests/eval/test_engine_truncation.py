"""Truncation flags: the transformers engine marks a completion cut off when no stop token ended it."""

from types import SimpleNamespace

import pytest

from grpo_bt_rm.eval.completions import completion_report, make_record, read_completions
from grpo_bt_rm.eval.engine import Generation, TransformersEngine
from grpo_bt_rm.io import InputError
from grpo_bt_rm.parsing import get_parser


class _Tok:
    """Token i decodes to its number followed by a space; no token is a lone digit."""
    pad_token_id = 0
    unk_token_id = 3

    def decode(self, ids, skip_special_tokens=True):
        return " ".join(str(i) for i in ids)

    def convert_tokens_to_ids(self, token):
        return self.unk_token_id


class _DigitTok(_Tok):
    """Ids 100..109 are the digits "0".."9", 50 is "<s>", 51 is "</s>", 60 is "8x" (a digit inside a merged token)."""
    VOCAB = {**{100 + d: str(d) for d in range(10)}, 50: "<s>", 51: "</s>", 60: "8x"}

    def decode(self, ids, skip_special_tokens=True):
        return "".join(self.VOCAB[i] for i in ids)

    def convert_tokens_to_ids(self, token):
        return next((i for i, t in self.VOCAB.items() if t == token), self.unk_token_id)


def test_decode_marks_rows_without_a_stop_token():
    eng = TransformersEngine(model=None, tokenizer=_Tok(), stop_ids=[7, 9])
    assert eng.digit_ids is None  # no lone digit tokens: nothing is recorded
    assert eng._decode([5, 6, 7, 0, 0]) == Generation("5 6", False)  # ended by a stop token, then padding
    assert eng._decode([5, 9]) == Generation("5", False)  # the last allowed token was a stop token
    assert eng._decode([5, 6, 8]) == Generation("5 6 8", True)  # ran to max_new_tokens


def test_decode_records_each_digit_token_at_its_character_end():
    eng = TransformersEngine(model=None, tokenizer=_DigitTok(), stop_ids=[7])
    assert eng.digit_ids == list(range(100, 110))
    steps = [[float(j)] * 10 for j in range(7)]  # step j's ten log-probabilities, all j
    gen = eng._decode([50, 103, 105, 51, 7, 0, 0], steps)
    assert gen.text == "<s>35</s>" and not gen.truncated
    assert gen.digits == ((4, (1.0,) * 10), (5, (2.0,) * 10))  # "3" ends at 4 (step 1), "5" at 5 (step 2)
    gen = eng._decode([50, 60, 51, 108], steps)  # "8x" is not a lone digit: only the last token is recorded
    assert gen.digits == ((10, (3.0,) * 10),) and gen.text == "<s>8x</s>8" and gen.truncated


def test_records_keep_flags_and_reasons(tmp_path):
    p = get_parser("score100_last")
    rec = make_record("k", 0, ["<s>70</s> and", "<s>80</s>"], ["<think>x", "<s>20</s>"], p,
                      truncated_0=[True, False], truncated_1=[False, False])
    assert rec["scores_0"] == [None, 80.0] and rec["reasons_0"] == ["truncated", None]
    assert rec["reasons_1"] == ["unclosed_reasoning", None]
    rep = completion_report([rec], p)
    assert rep == {"n_completions": 4, "truncated_rate": 0.25, "fail_reasons": {"truncated": 1,
                                                                                 "unclosed_reasoning": 1}}
    # an old file without truncated_* reads as "not cut off"
    old = {k: v for k, v in rec.items() if not k.startswith("truncated")}
    assert completion_report([old], p)["truncated_rate"] == 0.0


def test_bad_truncated_field_names_file_line_and_field(tmp_path):
    f = tmp_path / "c.jsonl"
    f.write_text('{"pair_key": "a", "preferred_side": 0, "completions_0": ["x"], "completions_1": ["y"], '
                 '"truncated_0": ["no"]}\n')
    with pytest.raises(InputError, match=r"c\.jsonl:1.*truncated_0"):
        read_completions(f)


def test_vllm_finish_reason_length_is_truncated():
    from grpo_bt_rm.eval.engine import VllmEngine

    eng = VllmEngine.__new__(VllmEngine)  # no vLLM here: drive generate() with a stand-in LLM
    eng.lora_path = None
    eng.stop_ids = [2]
    outs = [SimpleNamespace(outputs=[SimpleNamespace(text="<s>5", finish_reason="length"),
                                     SimpleNamespace(text="<s>5</s>", finish_reason="stop")])]
    eng.llm = SimpleNamespace(generate=lambda *a, **k: outs)
    vllm = pytest.importorskip("vllm", reason="vllm is optional (GPU only)")
    assert vllm and eng.generate([[1]], SimpleNamespace(n_samples=2, do_sample=False, temperature=1, top_p=1,
                                                         top_k=0, max_new_tokens=4)) == [
        [Generation("<s>5", True), Generation("<s>5</s>", False)]]


def test_unknown_model_type_is_one_clear_line(tmp_path, tiny_model_dir):
    """ms-swift's 'Failed to automatically match model_type' becomes an InputError that says what to pass."""
    import json
    import shutil

    from grpo_bt_rm.eval.loading import RunInfo, load_judge, resolve_checkpoint

    d = tmp_path / "m"
    shutil.copytree(tiny_model_dir, d)
    cfg = json.loads((d / "config.json").read_text())
    cfg["architectures"] = ["LlamaForCausalLM"]
    cfg["model_type"] = "llama"  # a Llama config: several ms-swift model types match it
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(InputError, match="--model_type"):
        load_judge(resolve_checkpoint("base", RunInfo(None), model=str(d)), RunInfo(None), dtype="fp32",
                   template="chatml", load_model=False)
