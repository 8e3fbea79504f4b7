"""The demo's synthetic preference task: "does the reply politely name the kind of thing that was asked for?".

    python -m grpo_bt_rm.demo.task --out outputs/demo/raw --n_train 2000 --n_val 250 --n_test 500 --seed 0
    python -m grpo_bt_rm.demo.task --out D --n_train 600 \\
        --train_category_weights animal=0.8,color=0.0667,fruit=0.0667,tool=0.0667

A context asks for an example of a category ("Name an animal."). The preferred reply names a member of that
category politely. The other reply fails in one of three ways (`kind`): `wrong` names a member of another
category, `evasive` names nothing, `rude` names the right thing but insults the user. The rule is decidable from
the context and a single reply, so a pointwise judge can learn it. Contexts carry a speaker and a phrasing so
that thousands are distinct; train, validation and test use disjoint speakers, so no held-out context appears
in training. Files are `pairs_jsonl` rows `{"prompt", "chosen", "rejected", "category", "kind"}`.

By default the asked category is drawn at random for every split. `--train_category_weights` skews the training
split only (exact per-category counts by largest remainder, recorded in the manifests); validation and test stay
the balanced draws, byte for byte the files written without the option, so they serve as per-category held-out
sets (bench/density_demo.sh).
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import sys
from collections.abc import Mapping
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


def parse_category_weights(text: str) -> dict[str, float]:
    """`CAT=W,...` naming every category once, as shares that sum to 1 (the weights are normalised).

    >>> parse_category_weights("animal=8,color=1,fruit=1,tool=0")
    {'animal': 0.8, 'color': 0.1, 'fruit': 0.1, 'tool': 0.0}

    Raises:
        ValueError: not CAT=W pairs, an unknown or repeated category, a missing one, a weight that is negative or
            not a finite number, or weights that sum to 0.
    """
    weights: dict[str, float] = {}
    for item in text.split(","):
        cat, sep, value = (x.strip() for x in item.partition("="))
        if not sep or not cat or not value:
            raise ValueError(f"{item.strip()!r} is not CATEGORY=WEIGHT (e.g. animal=0.8,color=0.0667,...)")
        if cat not in CATEGORIES:
            raise ValueError(f"unknown category {cat!r}; the categories are {', '.join(CATEGORIES)}")
        if cat in weights:
            raise ValueError(f"category {cat!r} given twice")
        try:
            w = float(value)
        except ValueError:
            raise ValueError(f"{cat}={value!r}: expected a number >= 0") from None
        if not math.isfinite(w) or w < 0:
            raise ValueError(f"{cat}={value!r}: expected a number >= 0")
        weights[cat] = w
    missing = [c for c in CATEGORIES if c not in weights]
    if missing:
        raise ValueError(f"no weight for {', '.join(missing)}: name every category ({', '.join(CATEGORIES)}), "
                         "0 for none")
    total = sum(weights.values())
    if total <= 0:
        raise ValueError("the weights sum to 0: give at least one category a weight > 0")
    return {c: weights[c] / total for c in CATEGORIES}


def category_weights_arg(text: str) -> dict[str, float]:
    """argparse type for --train_category_weights: `parse_category_weights`, its errors as usage errors."""
    try:
        return parse_category_weights(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


category_weights_arg.__name__ = "CATEGORY=WEIGHT list"


def category_quota(n: int, weights: Mapping[str, float]) -> dict[str, int]:
    """Pairs per category for `n` pairs: floor(n * share), the rest to the largest remainders (ties: category order).

    >>> category_quota(600, parse_category_weights("animal=0.8,color=0.0667,fruit=0.0667,tool=0.0667"))
    {'animal': 480, 'color': 40, 'fruit': 40, 'tool': 40}
    """
    total = sum(weights.values())
    exact = {c: n * weights[c] / total for c in weights}
    quota = {c: math.floor(x) for c, x in exact.items()}
    by_remainder = sorted(weights, key=lambda c: (-(exact[c] - quota[c]), list(weights).index(c)))
    for c in by_remainder[: n - sum(quota.values())]:
        quota[c] += 1
    return quota


def make_pairs(split: str, n: int, seed: int, category_weights: Mapping[str, float] | None = None) -> list[dict]:
    """`n` pairs with distinct contexts, drawn from the split's own speakers.

    Args:
        split: train, val or test (each has its own speakers and random stream).
        n: pairs to draw.
        seed: the data seed.
        category_weights: None draws the asked category at random (the default task); else exact counts per
            category (`category_quota`), taken in the same shuffled context order.

    Raises:
        ValueError: more pairs than distinct contexts, overall or (with weights) for one category.
    """
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
    if category_weights is not None:
        combos = _take_quota(combos, category_quota(n, category_weights), split, n, len(names))
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


def _take_quota(combos: list[tuple], quota: dict[str, int], split: str, n: int, n_names: int) -> list[tuple]:
    """The first `quota[c]` contexts of each category `c`, in the shuffled order of `combos`."""
    per_category = n_names * len(QUESTIONS)
    over = {c: k for c, k in quota.items() if k > per_category}
    if over:
        cat, k = next(iter(over.items()))
        raise ValueError(f"split {split!r}: the category weights (--train_category_weights) give {cat!r} {k} of "
                         f"{n} pairs, but a category has only {per_category} distinct contexts ({n_names} speakers "
                         f"x {len(QUESTIONS)} questions); lower the pair count or that category's weight")
    left = dict(quota)
    taken = []
    for combo in combos:
        if left[combo[2]] > 0:
            left[combo[2]] -= 1
            taken.append(combo)
    return taken


def _answer(template: str, word: str) -> str:
    text = template.format(word=word)
    return text[0].upper() + text[1:]


def check_line(asked: str | None, word: str | None) -> str:
    """The demo's one-line check of a reply: the word it names and that word's category, what was asked, and whether
    the two categories agree (`yes` / `no`; a reply that names nothing is a `no`).

    It is the rule teacher's explanation and, after SFT, the judge's reasoning before its score tag (prompt
    `generic_score100_check`); the format is defined here only. The verdict is part of the line because the tiny
    judge learns "are these two categories the same?" far more reliably from a clean yes/no token than from the
    spread of the teacher's scores (docs/bench_demo.md, round 5). Tone is not checked: the teacher is blind to it.

    >>> check_line("color", "Shovel"), check_line("tool", "saw"), check_line("tool", None)
    ('names shovel, tool; asked color; no.', 'names saw, tool; asked tool; yes.', 'names nothing; asked tool; no.')
    """
    category = category_of(word.lower()) if word else None
    named = f"{word.lower()}, {category}" if word else "nothing"
    verdict = "yes" if category is not None and category == asked else "no"
    return f"names {named}; asked {asked or 'nothing'}; {verdict}."


def fact_lines() -> list[str]:
    """The world knowledge a real base model brings and a random-init one lacks: which category each word is in.

    Plain text for the tiny judge's language-model pre-training (`testing.tiny --pretrain`), several phrasings per
    fact, one of them the phrasing of `check_line`. No request, reply or preference appears in it.
    """
    lines = []
    for cat, words in CATEGORIES.items():
        for w in words:
            lines += [f"{w.capitalize()} is {ARTICLE[cat]} {cat}.", f"The {w} is {ARTICLE[cat]} {cat}.",
                      f"One {cat}: {w}.", f"names {w}, {cat}."]
    return lines


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


def write_task(out: str | Path, sizes: dict[str, int], seed: int,
               train_category_weights: Mapping[str, float] | None = None) -> dict[str, Path]:
    """Write `{split}.jsonl` (+ `.manifest.json`) for each split, `corpus.txt` for the tokenizer and `facts.txt`
    (`fact_lines`) for the tiny judge's pre-training.

    Args:
        out: the output directory.
        sizes: pairs per split name (train, val, test).
        seed: the data seed.
        train_category_weights: skews the train split only (see `make_pairs`); when given, every manifest also
            records its split's `category_weights` (None: the balanced random draw) and `category_counts`.
            Without it the files are the default task's, byte for byte.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split, n in sizes.items():
        weights = train_category_weights if split == "train" else None
        rows = make_pairs(split, n, seed, category_weights=weights)
        path = out / f"{split}.jsonl"
        write_jsonl(path, rows)
        skew = {} if train_category_weights is None else {
            "category_weights": None if weights is None else dict(weights),
            "category_counts": {c: sum(r["category"] == c for r in rows) for c in CATEGORIES}}
        write_json(Path(f"{path}.manifest.json"), manifest_base(
            kind="demo_task", task_version=TASK_VERSION, split=split, pairs=len(rows), seed=seed,
            speakers=len(split_names(seed)[split]), **skew))
        paths[split] = path
    corpus = out / "corpus.txt"
    corpus.write_text("\n".join(corpus_lines()) + "\n", encoding="utf-8")
    paths["corpus"] = corpus
    facts = out / "facts.txt"
    facts.write_text("\n".join(fact_lines()) + "\n", encoding="utf-8")
    paths["facts"] = facts
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
    p.add_argument("--train_category_weights", type=category_weights_arg, default=None,
                   metavar="CAT=W,...",
                   help="skew the TRAINING split: every category with a weight >= 0 (normalised to shares), e.g. "
                   "animal=0.8,color=0.0667,fruit=0.0667,tool=0.0667; exact counts per category, each at most "
                   f"its distinct contexts ({len(QUESTIONS)} questions x the train speakers). Val and test stay "
                   "balanced. Default: no skew")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: write the demo task's splits and corpus; returns the exit code."""
    p = build_argparser()
    args = p.parse_args(argv)
    try:
        sizes = {"train": args.n_train, "val": args.n_val, "test": args.n_test}
        return run_cli(lambda: str({k: str(v) for k, v in write_task(
            args.out, sizes, args.seed, train_category_weights=args.train_category_weights).items()}))
    except ValueError as e:  # write_task's own checks on the sizes: a usage error
        p.error(str(e))


if __name__ == "__main__":
    sys.exit(main())
