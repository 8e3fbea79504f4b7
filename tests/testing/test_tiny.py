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
