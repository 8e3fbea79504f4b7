"""Build a tiny random-weight Qwen2 judge and a locally trained byte-level BPE tokenizer (no hub access).

    python -m grpo_bt_rm.tiny --out outputs/tiny_qwen2 [--hidden 64 --layers 2 --vocab 512 --corpus extra.txt]

Useful as a smoke-test model for every stage (pass `--model_type qwen2 --template qwen2_5` to ms-swift).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger("grpo_bt_rm.tiny")

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def default_corpus() -> list[str]:
    """Text the tokenizer is trained on: every registered prompt, score tags and some plain English."""
    from grpo_bt_rm.prompts import PROMPTS

    lines = []
    for name in PROMPTS:
        spec = PROMPTS.get(name)
        lines.extend(spec.render("Human: hello there, can you help me?", "Sure, I can help with that.")[-1]
                     ["content"].splitlines())
    lines += [f"<s>{i}</s>" for i in range(101)]
    lines += ["You are a helpful assistant.", "The answer is correct.", "The answer is wrong.",
              "The response is helpful, honest and harmless.", "This reply does not answer the question."]
    return lines


def build_tokenizer(corpus: Iterable[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(corpus), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   additional_special_tokens=["<|im_start|>", "<|im_end|>"])
    fast.chat_template = CHATML_TEMPLATE
    return fast


def build_tiny(
    out: str | os.PathLike,
    *,
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    intermediate: int = 128,
    vocab: int = 512,
    max_positions: int = 2048,
    seed: int = 0,
    corpus: Iterable[str] | None = None,
) -> Path:
    """Write config, random weights and tokenizer to `out` (atomically: a temp dir renamed into place)."""
    import torch
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    out = Path(out)
    lines = list(default_corpus()) + list(corpus or [])
    tokenizer = build_tokenizer(lines, vocab)
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        torch_dtype="float32",
    )
    model = Qwen2ForCausalLM(config)
    model.generation_config = GenerationConfig(
        eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id, bos_token_id=config.bos_token_id
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "tiny_build.json").write_text(json.dumps(
            {"hidden": hidden, "layers": layers, "heads": heads, "kv_heads": kv_heads, "intermediate": intermediate,
             "vocab": len(tokenizer), "seed": seed, "params": sum(p.numel() for p in model.parameters())},
            indent=2))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(prog="python -m grpo_bt_rm.tiny", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output model directory")
    p.add_argument("--hidden", type=int, default=64, help="hidden size")
    p.add_argument("--layers", type=int, default=2, help="number of transformer layers")
    p.add_argument("--heads", type=int, default=4, help="attention heads")
    p.add_argument("--kv_heads", type=int, default=2, help="key/value heads")
    p.add_argument("--intermediate", type=int, default=128, help="MLP intermediate size")
    p.add_argument("--vocab", type=int, default=512, help="BPE vocabulary size (including special tokens)")
    p.add_argument("--seed", type=int, default=0, help="weight-init seed")
    p.add_argument("--corpus", action="append", default=[],
                   help="extra text file(s) to train the tokenizer on (one example per line)")
    args = p.parse_args(argv)
    extra: list[str] = []
    for path in args.corpus:
        extra.extend(Path(path).read_text(encoding="utf-8").splitlines())
    out = build_tiny(args.out, hidden=args.hidden, layers=args.layers, heads=args.heads, kv_heads=args.kv_heads,
                     intermediate=args.intermediate, vocab=args.vocab, seed=args.seed, corpus=extra)
    log.info("tiny model written to %s", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
