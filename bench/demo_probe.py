"""Learnability probe for the demo judge (issue 15, round 4): plain-torch SFT of a demo's tiny model, with greedy
accuracy per failure kind on the validation split every steps/5 steps. A diagnostic, not part of any pipeline;
docs/bench_demo.md (round 4) lists the runs made with it and what they showed.

    python bench/demo_probe.py DEMO_DIR STEPS LR [SEED] [MODE]

DEMO_DIR is a scripts/demo.sh output (models/random, sft/sft_data.jsonl, raw/{train,val}.jsonl). MODE: `sft` (the
demo's SFT rows, default), `oracle` (gold labels as <s>90</s> / <s>10</s> on both sides of every training pair) or
`oracle:wrong` (only the wrong-category pairs). Environment: TPL (the user-turn template with {c} and {r}, `\\n`
for a newline; default the generic_score100_brief wording), COT=1 (targets rewritten to a one-line check before
the tag), PT=N (N steps of language-model pre-training on the category facts first; FACTS=old for the first
phrasing tried), INIT (re-initialise the weights with this std), WD (AdamW weight decay, default 0), MNT (eval
max new tokens, default 8), SHOW=1 (print a few greedy answers at each evaluation), VERDICT=1 (the SFT rows' check
line gets the yes/no verdict of round 5, for demos made before it), EMB=A (add A times the category word's
embedding to each member word's: a crude pre-trained prior; round 5 measured it did not help the score-only judge).
Prints one line per evaluation: step, training loss of the last batch, accuracy per kind, seconds so far.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import sys
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from grpo_bt_rm.demo.task import CATEGORIES, category_of, check_line, fact_lines
from grpo_bt_rm.demo.teacher import asked_category, named_word

BRIEF = ("Does the response do what was asked? Reply only with a score tag from <s>0</s> (no) to <s>100</s> "
         "(fully).\n\nREQUEST:\n{c}\n\nRESPONSE:\n{r}")
USER_RE = re.compile(r"REQUEST:\n(.*)\n\nRESPONSE:\n(.*)", re.S)
TAG_RE = re.compile(r"<s>(\d+)</s>")


def messages(template: str, context: str, response: str, answer: str) -> dict:
    return {"messages": [{"role": "user", "content": template.format(c=context, r=response)},
                         {"role": "assistant", "content": answer}]}


def training_rows(demo: str, mode: str, template: str, cot: bool) -> list[dict]:
    """The rows to fine-tune on: the demo's SFT file, or gold-labelled rows from its training pairs."""
    if mode.startswith("oracle"):
        kinds = mode.split(":")[1].split(",") if ":" in mode else None
        rows = []
        for line in open(f"{demo}/raw/train.jsonl", encoding="utf-8"):
            pair = json.loads(line)
            if kinds and pair["kind"] not in kinds:
                continue
            for resp, score in ((pair["chosen"], 90), (pair["rejected"], 10)):
                word = named_word(resp)
                answer = f"<s>{score}</s>"
                if cot:  # the first check format tried (asked category first)
                    answer = f"asked {asked_category(pair['prompt'])}; {word.lower() if word else None} is " \
                             f"{category_of(word) if word else 'none'}. {answer}"
                rows.append(messages(template, pair["prompt"], resp, answer))
        return rows
    rows = [json.loads(line) for line in open(f"{demo}/sft/sft_data.jsonl", encoding="utf-8")]
    if os.environ.get("VERDICT"):  # a check line of a demo made before round 5: rewrite it as `check_line` now writes it
        for row in rows:
            turn = row["messages"][1]
            m = re.match(r"names (?:(\w+), \w+|nothing); asked (\w+)\.", turn["content"])
            if m:
                turn["content"] = check_line(m.group(2), m.group(1)) + turn["content"][m.end():]
    if cot and "names " not in rows[0]["messages"][1]["content"]:  # score-only teacher rows: add the check
        out = []
        for row in rows:
            context, resp = USER_RE.search(row["messages"][0]["content"]).groups()
            check = check_line(asked_category(context), named_word(resp))
            out.append(messages(template, context, resp, f"{check} {row['messages'][1]['content']}"))
        return out
    return rows


def facts() -> list[str]:
    if os.environ.get("FACTS") == "old":
        return [line for cat, words in CATEGORIES.items() for w in words
                for line in (f"{w} is a {cat}.", f"{w.capitalize()} is a {cat}.", f"{w}, {cat}.",
                             f"names {w}, {cat}.")]
    return fact_lines()


def batch_tensors(batch: list[tuple[list[int], list[int]]], pad_id: int):
    width = max(len(ids) for ids, _ in batch)
    ids = torch.tensor([i + [pad_id] * (width - len(i)) for i, _ in batch])
    labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in batch])
    mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i, _ in batch])
    return ids, labels, mask


def scores(model, tok, texts: list[str], max_new: int, show: bool) -> list[int | None]:
    out: list[int | None] = []
    for i in range(0, len(texts), 64):
        enc = tok(texts[i:i + 64], return_tensors="pt", padding=True)
        with torch.no_grad():
            gen = model.generate(**enc, max_new_tokens=max_new, do_sample=False, pad_token_id=tok.pad_token_id)
        for text in tok.batch_decode(gen[:, enc["input_ids"].shape[1]:]):
            if show and len(out) < 6:
                print(repr(text))
            m = TAG_RE.search(text)
            out.append(int(m.group(1)) if m else None)
    return out


def evaluate(model, tok, val: list[dict], template: str, max_new: int, show: bool) -> dict[str, float]:
    def prompt(context, response):
        return tok.apply_chat_template([{"role": "user", "content": template.format(c=context, r=response)}],
                                       tokenize=False, add_generation_prompt=True)

    model.eval()
    chosen = scores(model, tok, [prompt(v["prompt"], v["chosen"]) for v in val], max_new, show)
    rejected = scores(model, tok, [prompt(v["prompt"], v["rejected"]) for v in val], max_new, show)
    model.train()
    acc: dict[str, list[float]] = {}
    for pair, a, b in zip(val, chosen, rejected):
        x = 0.0 if a is None or b is None else 1.0 if a > b else 0.5 if a == b else 0.0
        acc.setdefault(pair["kind"], []).append(x)
        acc.setdefault("all", []).append(x)
    return {k: round(sum(v) / len(v), 3) for k, v in sorted(acc.items())}


def pretrain(model, tok, steps: int) -> float:
    lines = facts()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    loss = torch.tensor(float("nan"))
    for _ in range(steps):
        enc = tok(random.sample(lines, 16), return_tensors="pt", padding=True)
        labels = enc["input_ids"].clone()
        labels[enc["attention_mask"] == 0] = -100
        loss = model(**enc, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return float(loss.detach())


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    demo, steps, lr = argv[0], int(argv[1]), float(argv[2])
    seed = int(argv[3]) if len(argv) > 3 else 0
    mode = argv[4] if len(argv) > 4 else "sft"
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    random.seed(seed)
    template = os.environ["TPL"].replace("\\n", "\n") if os.environ.get("TPL") else BRIEF
    cot, show = bool(os.environ.get("COT")), bool(os.environ.get("SHOW"))
    max_new = int(os.environ.get("MNT", "8"))
    tok = AutoTokenizer.from_pretrained(f"{demo}/models/random")
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(f"{demo}/models/random", dtype=torch.float32)
    if os.environ.get("INIT"):
        model.config.initializer_range = float(os.environ["INIT"])
        model.apply(model._init_weights)
    if os.environ.get("EMB"):  # member-word embeddings start near their category word's (a pre-trained prior)
        a = float(os.environ["EMB"])
        emb = model.get_input_embeddings().weight
        vocab = tok.get_vocab()
        with torch.no_grad():
            for cat, words in CATEGORIES.items():
                c = emb[vocab["\u0120" + cat]].clone()
                for w in words:
                    for v in (w, "\u0120" + w, w.capitalize(), "\u0120" + w.capitalize()):
                        if v in vocab:
                            emb[vocab[v]] += a * c
    rows = training_rows(demo, mode, template, cot)
    print("rows", len(rows), flush=True)
    data = []
    for row in rows:
        full = tok.apply_chat_template(row["messages"], tokenize=False)
        head = tok.apply_chat_template(row["messages"][:1], tokenize=False, add_generation_prompt=True)
        ids, n_head = tok(full)["input_ids"], len(tok(head)["input_ids"])
        data.append((ids, [-100] * n_head + ids[n_head:]))
    val = [json.loads(line) for line in open(f"{demo}/raw/val.jsonl", encoding="utf-8")]
    if os.environ.get("PT"):
        print("pt loss", pretrain(model, tok, int(os.environ["PT"])), flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=float(os.environ.get("WD", "0")))
    t0 = time.time()
    for step in range(1, steps + 1):
        for group in opt.param_groups:  # linear warm-up over 5%, then cosine to 0
            group["lr"] = lr * min(1.0, step / (0.05 * steps)) * 0.5 * (1 + math.cos(math.pi * step / steps))
        ids, labels, mask = batch_tensors(random.sample(data, 16), tok.pad_token_id)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % max(1, steps // 5) == 0 or step == steps:
            print(step, round(loss.item(), 3), evaluate(model, tok, val, template, max_new, show),
                  f"{time.time() - t0:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
