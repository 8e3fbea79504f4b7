import json

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer


def test_tiny_model_loads_and_generates(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    ids = tok.apply_chat_template([{"role": "user", "content": "Rate <s>85</s>"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=5, do_sample=False)
    assert out.shape[1] == ids["input_ids"].shape[1] + 5 or out[0, -1].item() == tok.eos_token_id
    meta = json.loads((tiny_model_dir / "tiny_build.json").read_text())
    assert meta["params"] == sum(p.numel() for p in model.parameters()) < 200_000
    assert tok.decode(tok("<s>85</s>")["input_ids"]) == "<s>85</s>"
    assert torch.isfinite(model(**ids).logits).all()


def test_pretrain_lm_learns_the_lines_and_records_them(tmp_path):
    """A few hundred steps on four facts: the model then completes them (loss falls far below the random model's)
    and pretrain.json records what it saw; bad input is refused before anything is written."""
    import pytest

    from grpo_bt_rm.testing.tiny import build_tiny, pretrain_lm

    lines = ["Dog is an animal.", "Red is a color.", "Saw is a tool.", "Mango is a fruit."]
    base = build_tiny(tmp_path / "m", corpus=lines * 20)
    tok = AutoTokenizer.from_pretrained(base)

    def loss(d):
        m = AutoModelForCausalLM.from_pretrained(d)
        b = tok(lines, return_tensors="pt", padding=True)
        lab = b["input_ids"].clone()
        lab[b["attention_mask"] == 0] = -100
        with torch.no_grad():
            return m(**b, labels=lab).loss.item()

    before = loss(base)
    out = pretrain_lm(base, tmp_path / "pt", lines, steps=150, batch_size=4, lr=1e-2)
    after = loss(out)
    assert after < 0.5 * before, (before, after)
    meta = json.loads((out / "pretrain.json").read_text())
    assert meta["lines"] == 4 and meta["steps"] == 150 and len(meta["text_sha256"]) == 64
    assert (out / "tiny_build.json").exists()
    with pytest.raises(ValueError, match="no text lines"):
        pretrain_lm(base, tmp_path / "x", ["", "  "])
    assert not (tmp_path / "x").exists()
