"""Build a tiny random-weight Qwen2 judge and a locally trained byte-level BPE tokenizer (no hub access).

    python -m grpo_bt_rm.testing.tiny --out outputs/tiny_qwen2 [--hidden 64 --layers 2 --vocab 512 --corpus extra.txt]

Useful as a smoke-test model for every stage (pass `--model_type qwen2 --template qwen2_5` to ms-swift).
`--warm_tags` adds a short plain-torch warm-up (`warm_start_tags`) so the model answers with parseable, varied
`<s>NN</s>` tags after the ChatML assistant header (a random model never writes one, so GRPO rewards would be flat).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path

from grpo_bt_rm.argtypes import COUNT, SEED
from grpo_bt_rm.cli import run_cli
from grpo_bt_rm.io import atomic_dir
from grpo_bt_rm.parsing import format_tag

log = logging.getLogger(__name__)

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


# The prompts whose wording trains the tiny tokenizer: a fixed list, so that registering a new prompt does not
# change the tiny model (and every test result built on it).
CORPUS_PROMPTS = (
    "generic_score100_brief", "generic_score100_scoreonly", "generic_score100_v1", "generic_score100_v3",
    "generic_score5_v1", "generic_score5_v3", "hh_score100_scoreonly", "hh_score100_v1", "hh_score100_v2",
    "hh_score100_v3", "hh_score100_v4", "hh_score5_v1", "hh_score5_v2", "hh_score5_v3", "hh_score5_v4",
    "score100_v1", "score5_v1", "score5_v2", "score5_v3", "score5_v4",
)


def default_corpus() -> list[str]:
    """Text the tokenizer is trained on: the `CORPUS_PROMPTS` prompts, score tags and some plain English."""
    from grpo_bt_rm.prompts import PROMPTS

    lines = []
    for name in CORPUS_PROMPTS:
        spec = PROMPTS.get(name)
        lines.extend(spec.render("Human: hello there, can you help me?", "Sure, I can help with that.")[-1]
                     ["content"].splitlines())
    lines += [format_tag(i) for i in range(101)]
    lines += ["You are a helpful assistant.", "The answer is correct.", "The answer is wrong.",
              "The response is helpful, honest and harmless.", "This reply does not answer the question."]
    return lines


def build_tokenizer(corpus: Iterable[str], vocab_size: int):
    """A byte-level BPE tokenizer with ChatML special tokens and chat template, trained on `corpus`.

    Args:
        corpus: training texts.
        vocab_size: the vocabulary size, special tokens included.

    Returns:
        A `PreTrainedTokenizerFast` with eos `<|im_end|>` and pad `<|endoftext|>`.
    """
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
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "tiny_build.json").write_text(json.dumps(
            {"hidden": hidden, "layers": layers, "heads": heads, "kv_heads": kv_heads, "intermediate": intermediate,
             "vocab": len(tokenizer), "seed": seed, "params": sum(p.numel() for p in model.parameters())},
            indent=2))
    return out


def _train(model, encoded, rng, *, steps: int, batch_size: int, lr: float, threads: int, pad_id: int) -> float:
    """AdamW (no weight decay) over `_warm_loop` with torch capped at `threads` threads (restored after); the model
    is left in eval mode. Returns the last step's loss."""
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    old_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        return _warm_loop(model, opt, encoded, rng, steps, batch_size, pad_id)
    finally:
        torch.set_num_threads(old_threads)
        model.eval()


def _save_trained(model, tok, model_dir: Path, out_dir: Path, meta_name: str, meta: dict) -> None:
    """Model + tokenizer (+ the source's tiny_build.json) and `meta_name` into `out_dir`, atomically."""
    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        if (model_dir / "tiny_build.json").exists():
            shutil.copy(model_dir / "tiny_build.json", tmp / "tiny_build.json")
        (tmp / meta_name).write_text(json.dumps(meta, indent=2))


def _load_for_training(name: str, model_dir: Path, steps: int, batch_size: int, seed: int):
    """Check the step counts, then load tokenizer and fp32 model from `model_dir` and seed python and torch.

    Returns (tokenizer, model, random.Random(seed)). Raises ValueError naming `name` for steps/batch_size < 1."""
    import random

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if steps < 1 or batch_size < 1:
        raise ValueError(f"{name}: steps and batch_size must be >= 1, got {steps}, {batch_size}")
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    torch.manual_seed(seed)
    return tok, model, random.Random(seed)


def pretrain_lm(
    model_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    lines: Iterable[str],
    *,
    steps: int = 300,
    batch_size: int = 16,
    lr: float = 3e-3,
    threads: int = 1,
    seed: int = 0,
) -> Path:
    """Language-model pre-training of a tiny model on plain text lines: the stand-in for the knowledge a real base
    model brings (the demo's category facts, `demo.task.fact_lines`).

    Plain-torch next-token training (loss on every token of each line, AdamW at a constant `lr`, `batch_size`
    lines drawn with replacement per step, `steps` steps). Writes the model + tokenizer to `out_dir` atomically
    (may equal `model_dir`) with a `pretrain.json` holding the settings, the sha256 of the text and the final loss.

    Raises:
        ValueError: no lines, or steps / batch_size below 1.
    """
    import hashlib

    lines = [line for line in lines if line.strip()]
    if not lines:
        raise ValueError("pretrain_lm: no text lines to pre-train on")
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    tok, model, rng = _load_for_training("pretrain_lm", model_dir, steps, batch_size, seed)
    encoded = []
    for line in lines:
        ids = tok(line, add_special_tokens=False)["input_ids"]
        encoded.append((ids, ids))
    loss_value = _train(model, encoded, rng, steps=steps, batch_size=batch_size, lr=lr, threads=threads,
                        pad_id=tok.pad_token_id)
    log.info("pretrain_lm: %d steps on %d lines, final loss %.3f", steps, len(lines), loss_value)
    text_sha = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    _save_trained(model, tok, model_dir, out_dir, "pretrain.json", {
        "source": str(model_dir), "lines": len(lines), "text_sha256": text_sha, "steps": steps,
        "batch_size": batch_size, "lr": lr, "threads": threads, "seed": seed, "final_loss": loss_value})
    return out_dir


DEFAULT_WARM_SYSTEM = "You are a careful, impartial judge of response quality."  # = SYSTEM in scripts/_common.sh
_WARM_WORDS = ("the answer is helpful clear wrong short long polite rude honest question reply user help can you "
               "please explain why how what good bad code summary story thanks sure sorry").split()


def _warm_examples(rng, prompts, n: int, system: str | None, fail_frac: float):
    """(messages, assistant_text) pairs: random context/response rendered with a judge prompt, random tag."""
    from grpo_bt_rm.prompts import get_prompt

    out = []
    for _ in range(n):
        spec = get_prompt(prompts[rng.randrange(len(prompts))])
        context = "Human: " + " ".join(rng.choice(_WARM_WORDS) for _ in range(rng.randint(3, 10))) + "?"
        response = " ".join(rng.choice(_WARM_WORDS) for _ in range(rng.randint(3, 12))) + "."
        messages = spec.render(context, response)
        if system is not None:
            messages = [{"role": "system", "content": system}] + [m for m in messages if m["role"] != "system"]
        low, high = spec.score_range
        if rng.random() < fail_frac:
            answer = "The answer is helpful."
        else:
            answer = format_tag(rng.randint(low, high))
        out.append((messages, answer))
    return out


def _warm_loop(model, opt, encoded, rng, steps: int, batch_size: int, pad_id: int) -> float:
    import torch

    loss_value = float("nan")
    for _ in range(steps):
        batch = [encoded[rng.randrange(len(encoded))] for _ in range(batch_size)]
        width = max(len(ids) for ids, _ in batch)
        ids = torch.full((batch_size, width), pad_id, dtype=torch.long)
        labels = torch.full((batch_size, width), -100, dtype=torch.long)
        mask = torch.zeros((batch_size, width), dtype=torch.long)
        for i, (seq, lab) in enumerate(batch):
            ids[i, : len(seq)] = torch.tensor(seq)
            labels[i, : len(lab)] = torch.tensor(lab)
            mask[i, : len(seq)] = 1
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_value = float(loss.detach())
    return loss_value


def warm_start_tags(
    model_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    steps: int = 150,
    batch_size: int = 4,
    lr: float = 3e-3,
    prompts: Iterable[str] = ("hh_score100_v1", "score100_v1", "generic_score100_v1"),
    system: str | None = DEFAULT_WARM_SYSTEM,
    fail_frac: float = 0.05,
    context_tokens: int | None = None,
    threads: int = 1,
    seed: int = 0,
) -> Path:
    """Teach a tiny model to answer a judge prompt with `<s>NN</s><|im_end|>` (NN uniform over the prompt's scale).

    Plain-torch next-token training on the assistant turn only (ChatML, `system` as the system prompt, as the
    `qwen2_5` template renders it). A fraction `fail_frac` of targets are untagged text, so sampling also yields
    some parse failures. Writes the model + tokenizer to `out_dir` atomically (may equal `model_dir`) and a
    `warm_start.json` with the settings and the final loss. `context_tokens` keeps only the last N prompt tokens
    per example (faster, generalises worse); `threads` caps torch threads during the warm-up (restored after),
    which is much faster than the default on a busy 2-core machine.
    """
    prompts = list(prompts)
    if not prompts:
        raise ValueError("warm_start_tags: prompts must name at least one registered prompt")
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    tok, model, rng = _load_for_training("warm_start_tags", model_dir, steps, batch_size, seed)
    examples = _warm_examples(rng, prompts, max(256, batch_size * 8), system, fail_frac)
    encoded = []
    for messages, answer in examples:
        prefix = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        p_ids = tok(prefix, add_special_tokens=False)["input_ids"]
        if context_tokens:
            p_ids = p_ids[-context_tokens:]
        a_ids = tok(answer + "<|im_end|>", add_special_tokens=False)["input_ids"]
        encoded.append((p_ids + a_ids, [-100] * len(p_ids) + a_ids))
    loss_value = _train(model, encoded, rng, steps=steps, batch_size=batch_size, lr=lr, threads=threads,
                        pad_id=tok.pad_token_id)
    log.info("warm_start_tags: %d steps, final loss %.3f", steps, loss_value)
    _save_trained(model, tok, model_dir, out_dir, "warm_start.json", {
        "source": str(model_dir), "steps": steps, "batch_size": batch_size, "lr": lr, "prompts": prompts,
        "system": system, "fail_frac": fail_frac, "context_tokens": context_tokens, "threads": threads,
        "seed": seed, "final_loss": loss_value})
    return out_dir


def build_argparser() -> argparse.ArgumentParser:
    """The `python -m grpo_bt_rm.testing.tiny` argument parser."""
    p = argparse.ArgumentParser(prog="python -m grpo_bt_rm.testing.tiny", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output model directory")
    p.add_argument("--hidden", type=COUNT, default=64, help="hidden size")
    p.add_argument("--layers", type=COUNT, default=2, help="number of transformer layers")
    p.add_argument("--heads", type=COUNT, default=4, help="attention heads")
    p.add_argument("--kv_heads", type=COUNT, default=2, help="key/value heads")
    p.add_argument("--intermediate", type=COUNT, default=128, help="MLP intermediate size")
    p.add_argument("--vocab", type=COUNT, default=512, help="BPE vocabulary size (including special tokens)")
    p.add_argument("--seed", type=SEED, default=0, help="weight-init seed")
    p.add_argument("--corpus", action="append", default=[],
                   help="extra text file(s) to train the tokenizer on (one example per line)")
    p.add_argument("--pretrain", metavar="FILE",
                   help="after building, pre-train the model as a language model on this text file (one line each; "
                        "pretrain_lm), e.g. the demo's facts.txt")
    p.add_argument("--pretrain_steps", type=COUNT, default=300, help="optimizer steps of the --pretrain stage")
    p.add_argument("--warm_tags", action="store_true",
                   help="after building, run warm_start_tags so the model writes parseable, varied <s>NN</s> tags")
    p.add_argument("--warm_steps", type=COUNT, default=150, help="optimizer steps of the --warm_tags warm-up")
    p.add_argument("--warm_prompts", default="hh_score100_v1,score100_v1,generic_score100_v1",
                   help="comma-separated prompt names the --warm_tags warm-up renders its examples with")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: build a tiny random-weight Qwen2 model directory; returns the exit code."""
    args = build_argparser().parse_args(argv)
    return run_cli(lambda: _build(args))


def _build(args: argparse.Namespace) -> None:
    extra: list[str] = []
    for path in args.corpus:
        extra.extend(Path(path).read_text(encoding="utf-8").splitlines())
    out = build_tiny(args.out, hidden=args.hidden, layers=args.layers, heads=args.heads, kv_heads=args.kv_heads,
                     intermediate=args.intermediate, vocab=args.vocab, seed=args.seed, corpus=extra)
    if args.pretrain:
        text = Path(args.pretrain).read_text(encoding="utf-8").splitlines()
        pretrain_lm(out, out, text, steps=args.pretrain_steps, seed=args.seed)
    if args.warm_tags:
        warm_start_tags(out, out, steps=args.warm_steps, prompts=[x for x in args.warm_prompts.split(",") if x])
    log.info("tiny model written to %s", out)


if __name__ == "__main__":
    sys.exit(main())
