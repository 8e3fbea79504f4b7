"""The demo's synthetic preference task: "does the reply politely name the kind of thing that was asked for?".

    python -m grpo_bt_rm.demo.task --out outputs/demo/raw --n_train 2000 --n_val 250 --n_test 500 --seed 0

A context asks for an example of a category ("Name an animal."). The preferred reply names a member of that
category politely. The other reply fails in one of three ways (`kind`): `wrong` names a member of another
category, `evasive` names nothing, `rude` names the right thing but insults the user. The rule is decidable from
the context and a single reply, so a pointwise judge can learn it. Contexts carry a speaker and a phrasing so
that thousands are distinct; train, validation and test use disjoint speakers, so no held-out context appears
in training. Files are `pairs_jsonl` rows `{"prompt", "chosen", "rejected", "category", "kind"}`.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
from pathlib import Path

from grpo_bt_rm.argtypes import COUNT, SEED
from grpo_bt_rm.cli import run_cli
from grpo_bt_rm.io import manifest_base, write_json, write_jsonl
from grpo_bt_rm.parsing import format_tag

log = logging.getLogger(__name__)

TASK_VERSION = 1

CATEGORIES: dict[str, tuple[str, ...]] = {
    "animal": ("dog", "cat", "horse", "tiger", "rabbit", "sheep"),
    "color": ("red", "blue", "green", "yellow", "purple", "black"),
    "fruit": ("apple", "banana", "cherry", "grape", "lemon", "mango"),
    "tool": ("hammer", "saw", "drill", "wrench", "shovel", "ladder"),
}
ARTICLE = {c: ("an" if c[0] in "aeiou" else "a") for c in CATEGORIES}

QUESTIONS = (
    "{name} asks: can you name {art} {cat}?",
    "Please name {art} {cat}. {name} wants to know.",
    "{name} here. Tell me one {cat}, please.",
    "Give me an example of {art} {cat}. Thanks, {name}",
    "Hi, I am {name}. What is {art} {cat}?",
    "{name} needs one {cat} for a quiz. Which {cat} would you pick?",
    "Name any {cat} you like. Signed, {name}",
    "Quick question from {name}: which word is {art} {cat}?",
)
ANSWERS = (
    "{word}.",
    "I would say {word}.",
    "My answer is {word}.",
    "How about {word}?",
    "Sure! {word} is a good one.",
)
NAMES = (
    "Ada Alan Alice Amir Anna Ben Bo Carl Cleo Dan Dora Eli Emma Eva Finn Gus Hana Ian Ivy Jack Jade Jon Kai Kim "
    "Leo Lena Liam Lily Luca Maya Max Mia Nia Noah Nora Omar Otto Paul Pia Quinn Rae Ravi Rita Rosa Sam Sara Theo "
    "Tina Uma Vera Wes Yara Yuki Zane Zoe Abel Beth Cruz Dina Ezra Faye Gil Hugo Iris Joel Kira Lars Mona Ned Olga "
    "Pete Rudy Sol Tess Ugo Vic Will Xena Yves Zack Aria Bram Cora Drew Edna Fred Gwen Hal Ines Jude Kurt Lola Mick "
    "Nell Opal Rex Sky Tom Val"
).split()
EVASIVE = (
    "I don't know.",
    "No idea, sorry.",
    "Why do you ask?",
    "Let me get back to you on that.",
    "Hmm, hard to say.",
)
RUDE = (
    "{word}, obviously. What a stupid question.",
    "Ugh, {word}. Stop bothering me.",
    "{word}, you idiot.",
    "Figure it out yourself. Fine: {word}.",
    "{word}. Even a child knows that, dummy.",
)
RUDE_MARKERS = ("stupid", "bothering", "idiot", "yourself", "dummy")  # one per RUDE template
KINDS = {"wrong": 0.35, "evasive": 0.25, "rude": 0.40}  # how often each failure is the rejected reply
SPLITS = ("train", "val", "test")


def split_names(seed: int) -> dict[str, list[str]]:
    """Disjoint speaker names per split (70% / 10% / 20%), so held-out contexts never occur in training."""
    names = sorted(NAMES)
    random.Random(f"names:{seed}").shuffle(names)
    n_train, n_val = int(0.7 * len(names)), int(0.1 * len(names))
    return {"train": names[:n_train], "val": names[n_train:n_train + n_val], "test": names[n_train + n_val:]}


def category_of(word: str) -> str | None:
    """The category a word belongs to in `CATEGORIES`, or None.

    >>> category_of("dog"), category_of("zebra")
    ('animal', None)
    """
    for cat, words in CATEGORIES.items():
        if word in words:
            return cat
    return None


def make_pairs(split: str, n: int, seed: int) -> list[dict]:
    """`n` pairs with distinct contexts, drawn from the split's own speakers."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    rng = random.Random(f"pairs:{split}:{seed}")
    names = split_names(seed)[split]
    n_contexts = len(names) * len(QUESTIONS) * len(CATEGORIES)
    if n > n_contexts:
        raise ValueError(f"split {split!r}: asked for {n} pairs but only {n_contexts} distinct contexts exist")
    cats = list(CATEGORIES)
    combos = [(nm, q, c) for nm in names for q in range(len(QUESTIONS)) for c in cats]
    rng.shuffle(combos)
    rows = []
    kinds, weights = list(KINDS), list(KINDS.values())
    for name, q, cat in combos[:n]:
        kind = rng.choices(kinds, weights)[0]
        a_good, a_bad = rng.sample(ANSWERS, 2)
        if kind == "wrong":
            wrong_cat = rng.choice([c for c in cats if c != cat])
            rejected = _answer(a_bad, rng.choice(CATEGORIES[wrong_cat]))
        elif kind == "evasive":
            rejected = rng.choice(EVASIVE)
        else:
            rejected = _answer(rng.choice(RUDE), rng.choice(CATEGORIES[cat]))
        rows.append({
            "prompt": QUESTIONS[q].format(name=name, art=ARTICLE[cat], cat=cat),
            "chosen": _answer(a_good, rng.choice(CATEGORIES[cat])),
            "rejected": rejected,
            "category": cat,
            "kind": kind,
        })
    return rows


def _answer(template: str, word: str) -> str:
    text = template.format(word=word)
    return text[0].upper() + text[1:]


def corpus_lines() -> list[str]:
    """Text for the tiny tokenizer, so the task's words become single tokens."""
    lines = [q.format(name=n, art=ARTICLE[c], cat=c) for q in QUESTIONS for c in CATEGORIES for n in NAMES[:3]]
    lines += [_answer(a, w) for a in ANSWERS + RUDE for ws in CATEGORIES.values() for w in ws]
    lines += list(EVASIVE)
    lines += NAMES
    # The launchers' default system prompt, chat roles and score tags (repeated, so BPE merges them).
    lines += ["You are a careful, impartial judge of response quality.", "system", "user", "assistant"] * 20
    lines += [format_tag(i) for i in range(101)] * 10
    return lines


def write_task(out: str | Path, sizes: dict[str, int], seed: int) -> dict[str, Path]:
    """Write `{split}.jsonl` (+ `.manifest.json`) for each split and `corpus.txt` for the tokenizer."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, n in sizes.items():
        rows = make_pairs(split, n, seed)
        path = out / f"{split}.jsonl"
        write_jsonl(path, rows)
        write_json(Path(f"{path}.manifest.json"), manifest_base(
            kind="demo_task", task_version=TASK_VERSION, split=split, pairs=len(rows), seed=seed,
            speakers=len(split_names(seed)[split])))
        paths[split] = path
    corpus = out / "corpus.txt"
    corpus.write_text("\n".join(corpus_lines()) + "\n", encoding="utf-8")
    paths["corpus"] = corpus
    return paths


def build_argparser() -> argparse.ArgumentParser:
    """The `python -m grpo_bt_rm.demo.task` argument parser."""
    p = argparse.ArgumentParser(prog="python -m grpo_bt_rm.demo.task", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output directory for train/val/test .jsonl and corpus.txt")
    p.add_argument("--n_train", type=COUNT, default=2000, help="training pairs (teacher, SFT and GRPO draw on them)")
    p.add_argument("--n_val", type=COUNT, default=250, help="validation pairs (for choosing settings; not the test)")
    p.add_argument("--n_test", type=COUNT, default=500, help="held-out test pairs (speakers never seen in training)")
    p.add_argument("--seed", type=SEED, default=0, help="seed for the speaker split and the pair draws")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: write the demo task's splits and corpus; returns the exit code."""
    p = build_argparser()
    args = p.parse_args(argv)
    try:
        sizes = {"train": args.n_train, "val": args.n_val, "test": args.n_test}
        return run_cli(lambda: str({k: str(v) for k, v in write_task(args.out, sizes, args.seed).items()}))
    except ValueError as e:  # write_task's own checks on the sizes: a usage error
        p.error(str(e))


if __name__ == "__main__":
    sys.exit(main())
