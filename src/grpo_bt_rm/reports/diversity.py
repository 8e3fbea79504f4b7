"""Diversity / mode-collapse report: compare the writing of two or more models from their saved completions.

    python -m grpo_bt_rm.reports.diversity --completions uniform=uni.jsonl --completions density=dens.jsonl \\
        --out_dir reports/diversity

Inputs are eval `--save_completions` files (`completions_0` / `completions_1` lists per pair) or plain JSONL with a
`text` field. Writes report.md (side by side, relative change, ✅/❌ per metric), metrics.json and metrics.png.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from grpo_bt_rm.cli import run_cli
from grpo_bt_rm.eval.completions import read_texts as read_completion_texts
from grpo_bt_rm.io import InputError, atomic_write, manifest_base, read_text, sha256_file, write_json
from grpo_bt_rm.parsing import strip_tags
from grpo_bt_rm.paths import default_path
from grpo_bt_rm.plots import pyplot, save_png
from grpo_bt_rm.settings import settings_from_args

log = logging.getLogger(__name__)

WORD_RE = re.compile(r"\w+(?:['’]\w+)*")
SENTENCE_SPLIT_RE = re.compile(r"(?<=[.!?])\s+|\n+")

# Stock constructions over-used by collapsed models; name -> case-insensitive regex. Replace with --patterns.
DEFAULT_PATTERNS: dict[str, str] = {
    "not just X, but Y": r"\bnot (?:just|only|merely|simply)\b[^.!?\n]{0,80}?\bbut\b",
    "it's not X, it's Y": (r"\b(?:it|this|that)(?:['’]s| is) not\b[^.!?\n]{0,80}?[,;:—–-]\s*"
                           r"(?:it|this|that)(?:['’]s| is)\b"),
    "delve": r"\bdelv(?:e|es|ed|ing)\b",
    "tapestry": r"\btapestr(?:y|ies)\b",
    "testament to": r"\ba testament to\b",
    "it's worth noting": r"\bit(?:['’]s| is) (?:worth noting|important to note)\b",
    "in today's world": r"\bin today['’]s (?:\w+[- ])*world\b",
    "navigate the complexities": r"\bnavigat(?:e|es|ing) the (?:complexities|intricacies)\b",
    "ever-evolving landscape": r"\bever[- ](?:evolving|changing)\b",
    "I hope this helps": r"\bi hope this helps\b",
}


@dataclass(frozen=True)
class Metric:
    """One diversity metric as the report shows it.

    Attributes:
        key: the key in metrics.json.
        title: the column or plot title.
        better: "lower", "higher" or "neutral" (no direction means less collapse).
        meaning: one line explaining it in the report.
    """
    key: str
    title: str
    better: str  # "lower", "higher" or "neutral" (no direction means less collapse)
    meaning: str


METRICS = [
    Metric("em_dash_per_1k", "em-dash (—) per 1k words", "lower",
           "How often the model writes an em-dash; a well-known tic of collapsed chat models."),
    Metric("en_dash_per_1k", "en-dash (–) per 1k words", "lower", "The same for en-dashes."),
    Metric("gini", "Gini of word frequencies", "lower",
           "Inequality of the word-frequency distribution over the distinct words used: 0 if every word is used "
           "equally often, near 1 if a few words make up almost all the text."),
    Metric("distinct_1", "distinct-1", "higher", "Distinct words / all words, pooled over all responses."),
    Metric("distinct_2", "distinct-2", "higher",
           "Distinct word bigrams / all bigrams (bigrams do not cross responses)."),
    Metric("vocab_ratio", "vocabulary ratio (equal budget)", "higher",
           "Distinct words / words over the first N words of each model, N = the smallest total among the models "
           "compared, so longer outputs are not penalised as distinct-1 is."),
    Metric("sentence_len_mean", "sentence length, mean (words)", "neutral", "Average words per sentence."),
    Metric("sentence_len_std", "sentence length, std", "higher",
           "Spread of sentence lengths; a collapsed model writes sentences of one shape."),
    Metric("response_len_mean", "response length, mean (words)", "neutral", "Average words per response."),
    Metric("response_len_std", "response length, std", "higher", "Spread of response lengths."),
    Metric("stock_per_1k", "stock constructions per 1k words", "lower",
           "Matches of the stock-phrase patterns (listed below) per 1,000 words."),
    Metric("self_repetition", "self-repetition (4-grams)", "lower",
           "Share of word 4-grams that repeat an earlier 4-gram of the same response, pooled over responses."),
]


def words(text: str) -> list[str]:
    """Lower-cased words of `text`: runs of letters/digits, apostrophes kept inside a word.

    >>> words("It's a Test, isn't it?")
    ["it's", 'a', 'test', "isn't", 'it']
    """
    return WORD_RE.findall(text.lower())


def gini(counts: list[int]) -> float:
    """Gini coefficient of non-negative counts (0 = all equal).

    >>> gini([5, 5, 5]), round(gini([0, 0, 10]), 4)
    (0.0, 0.6667)
    """
    xs = sorted(counts)
    n, total = len(xs), sum(xs)
    if n == 0 or total == 0:
        return 0.0
    return 2.0 * sum(i * x for i, x in enumerate(xs, 1)) / (n * total) - (n + 1) / n


def _mean_std(xs: list[float]) -> tuple[float, float]:
    if not xs:
        return 0.0, 0.0
    m = sum(xs) / len(xs)
    return m, math.sqrt(sum((x - m) ** 2 for x in xs) / len(xs))


def compute_metrics(texts: list[str], patterns: dict[str, str] | None = None,
                    vocab_budget: int | None = None) -> dict:
    """All metrics for one model's responses (see METRICS). `vocab_budget` = N for the vocabulary ratio."""
    compiled = {name: re.compile(rx, re.IGNORECASE) for name, rx in (patterns or DEFAULT_PATTERNS).items()}
    unigrams: Counter = Counter()
    bigrams: set = set()
    n_bigrams = n_four = repeated_four = 0
    stream: list[str] = []
    resp_lens: list[float] = []
    sent_lens: list[float] = []
    pattern_hits: Counter = Counter()
    em = en = 0
    for text in texts:
        ws = words(text)
        unigrams.update(ws)
        stream.extend(ws)
        resp_lens.append(len(ws))
        bg = list(zip(ws, ws[1:], strict=False))
        bigrams.update(bg)
        n_bigrams += len(bg)
        four = list(zip(ws, ws[1:], ws[2:], ws[3:], strict=False))
        n_four += len(four)
        repeated_four += len(four) - len(set(four))
        sent_lens.extend(len(words(s)) for s in SENTENCE_SPLIT_RE.split(text) if words(s))
        em += text.count("—")
        en += text.count("–")
        for name, rx in compiled.items():
            pattern_hits[name] += len(rx.findall(text))
    total = len(stream)
    per_1k = 1000.0 / total if total else 0.0
    budget = min(vocab_budget or total, total)
    s_mean, s_std = _mean_std(sent_lens)
    r_mean, r_std = _mean_std(resp_lens)
    return {
        "responses": len(texts),
        "words": total,
        "em_dash_per_1k": em * per_1k,
        "en_dash_per_1k": en * per_1k,
        "gini": gini(list(unigrams.values())),
        "distinct_1": len(unigrams) / total if total else 0.0,
        "distinct_2": len(bigrams) / n_bigrams if n_bigrams else 0.0,
        "vocab_ratio": len(set(stream[:budget])) / budget if budget else 0.0,
        "vocab_budget": budget,
        "sentence_len_mean": s_mean,
        "sentence_len_std": s_std,
        "response_len_mean": r_mean,
        "response_len_std": r_std,
        "stock_per_1k": sum(pattern_hits.values()) * per_1k,
        "stock_counts": dict(pattern_hits),
        "self_repetition": repeated_four / n_four if n_four else 0.0,
    }


def read_texts(path: str, strip_score_tags: bool = True) -> list[str]:
    """Texts of a completions file (see `eval.completions.read_texts`), score tags removed unless asked to keep them.

    Raises:
        InputError: the file is not a completions or `text` JSONL file, or holds no texts.
    """
    texts = read_completion_texts(path)
    return [strip_tags(t) for t in texts] if strip_score_tags else texts


def verdict(metric: Metric, base: float, value: float) -> tuple[float | None, str]:
    """(relative change vs the baseline, mark): ✅ moved the less-collapse way, ❌ the other way, = unchanged."""
    rel = (value - base) / abs(base) if base else (None if value == base else math.copysign(math.inf, value - base))
    if metric.better == "neutral":
        return rel, "·"
    if math.isclose(value, base, rel_tol=1e-9, abs_tol=1e-12):
        return rel, "="
    good = value < base if metric.better == "lower" else value > base
    return rel, "✅" if good else "❌"


def _fmt(x: float) -> str:
    return f"{x:.4g}" if abs(x) < 1000 else f"{x:,.0f}"


def _fmt_rel(rel: float | None) -> str:
    if rel is None:
        return "n/a"
    if math.isinf(rel):
        return "+∞" if rel > 0 else "−∞"
    return f"{rel:+.1%}"


def render_report(results: dict[str, dict], baseline: str, patterns: dict[str, str]) -> str:
    """report.md: the models side by side, each against `baseline` (relative change and ✅/❌ per metric).

    Args:
        results: label -> `compute_metrics` output, in report order.
        baseline: the label the others are compared against.
        patterns: the stock-construction patterns used (name -> regex), listed with their counts.

    Returns:
        The Markdown text.
    """
    labels = list(results)
    others = [x for x in labels if x != baseline]
    lines = ["# Diversity / mode-collapse report", "",
             f"Baseline: **{baseline}**. Relative change and ✅/❌ are each model against the baseline; ✅ means "
             "the metric moved in the direction of less collapse, ❌ the opposite, = unchanged, · no preferred "
             "direction.", ""]
    lines.append("| model | responses | words |")
    lines.append("| --- | ---: | ---: |")
    lines += [f"| {lab} | {results[lab]['responses']} | {results[lab]['words']} |" for lab in labels]
    lines += ["", "| metric | better | " + " | ".join(labels) + " | " + " | ".join(f"Δ {o}" for o in others) + " |",
              "| --- | --- | " + " | ".join("---:" for _ in labels) + " | " + " | ".join("---" for _ in others) + " |"]
    wins = Counter()
    for m in METRICS:
        vals = [_fmt(results[lab][m.key]) for lab in labels]
        deltas = []
        for o in others:
            rel, mark = verdict(m, results[baseline][m.key], results[o][m.key])
            wins[(o, mark)] += 1
            deltas.append(f"{_fmt_rel(rel)} {mark}")
        arrow = {"lower": "lower", "higher": "higher", "neutral": "–"}[m.better]
        lines.append(f"| {m.title} | {arrow} | " + " | ".join(vals) + " | " + " | ".join(deltas) + " |")
    lines.append("")
    for o in others:
        lines.append(f"- **{o}** vs {baseline}: {wins[(o, '✅')]} ✅, {wins[(o, '❌')]} ❌, "
                     f"{wins[(o, '=')]} unchanged.")
    lines += ["", "## What each metric means", ""]
    for m in METRICS:
        direction = "no preferred direction" if m.better == "neutral" else f"{m.better} is less collapse"
        lines.append(f"- **{m.title}** ({direction}): {m.meaning}")
    lines += ["", "Words are lower-cased runs of letters/digits (apostrophes kept inside words); sentences split at "
              ". ! ? followed by space, and at line breaks. Score tags `<s>NN</s>` are removed first unless "
              "--keep_score_tags.", "", "## Stock-construction patterns (case-insensitive)", "",
              "| pattern | regex | " + " | ".join(labels) + " |",
              "| --- | --- | " + " | ".join("---:" for _ in labels) + " |"]
    for name, rx in patterns.items():
        counts = " | ".join(str(results[lab]["stock_counts"].get(name, 0)) for lab in labels)
        lines.append(f"| {name} | `{rx.replace('|', '&#124;')}` | {counts} |")
    return "\n".join(lines) + "\n"


def write_chart(path: Path, results: dict[str, dict]) -> None:
    """One bar chart per metric (a bar per model) as a PNG at `path`."""
    plt = pyplot()
    labels = list(results)
    cols = 4
    rows = math.ceil(len(METRICS) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, m in zip(axes.flat, METRICS, strict=False):
        ax.bar(range(len(labels)), [results[lab][m.key] for lab in labels],
               color=[colors[i % len(colors)] for i in range(len(labels))])
        ax.set_xticks(range(len(labels)), labels, fontsize=7, rotation=20)
        ax.set_title(f"{m.title}\n({m.better} is better)" if m.better != "neutral" else m.title, fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(METRICS):]:
        ax.axis("off")
    fig.tight_layout()
    save_png(fig, path, dpi=100)


def parse_labelled(entries: list[str], minimum: int = 2) -> dict[str, str]:
    """label -> path from repeated `--completions LABEL=PATH` flags (shared by the reports).

    Raises:
        InputError: an entry is not LABEL=PATH, a label repeats, a file is missing, or fewer than `minimum`.
    """
    out: dict[str, str] = {}
    for e in entries:
        label, sep, path = e.partition("=")
        if not sep or not label or not path:
            raise InputError(f"--completions {e!r}: expected LABEL=PATH")
        if label in out:
            raise InputError(f"--completions: label {label!r} given twice")
        if not Path(path).is_file():
            raise InputError(f"--completions {e!r}: file {path} does not exist")
        out[label] = path
    if len(out) < minimum:
        raise InputError(f"--completions: give at least {minimum} LABEL=PATH entries")
    return out


def load_patterns(path: str | None, extra: list[str] | None) -> dict[str, str]:
    """The stock-construction patterns: DEFAULT_PATTERNS, or a JSON file {name: regex} instead, plus NAME=REGEX extras.

    Raises:
        InputError: the file is not a JSON object of strings, an extra is not NAME=REGEX, or a regex is invalid.
    """
    patterns = dict(DEFAULT_PATTERNS)
    if path:
        try:
            loaded = json.loads(read_text(path))
        except (OSError, json.JSONDecodeError) as e:
            raise InputError(f"--patterns {path}: cannot read a JSON object ({e})") from None
        if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
            raise InputError(f"--patterns {path}: expected a JSON object of name -> regex")
        patterns = loaded
    for e in extra or []:
        name, sep, rx = e.partition("=")
        if not sep:
            raise InputError(f"--add_pattern {e!r}: expected NAME=REGEX")
        patterns[name] = rx
    for name, rx in patterns.items():
        try:
            re.compile(rx)
        except re.error as err:
            raise InputError(f"pattern {name!r}: invalid regex {rx!r} ({err})") from None
    return patterns


@dataclass(frozen=True)
class DiversitySettings:
    """The report's settings, one field per flag; `out_dir` None means $GRPO_BT_RM_BASE_DIR/diversity."""

    completions: tuple[str, ...]
    baseline: str | None = None
    out_dir: str | None = None
    patterns: str | None = None
    add_pattern: tuple[str, ...] | None = None
    keep_score_tags: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "completions", tuple(self.completions))
        if self.add_pattern is not None:
            object.__setattr__(self, "add_pattern", tuple(self.add_pattern))
        if self.out_dir is None:
            object.__setattr__(self, "out_dir", str(default_path("diversity")))


def run(args: DiversitySettings) -> dict:
    """Compute every metric per model and write report.md, metrics.png and metrics.json (returned).

    Raises:
        InputError: a bad LABEL=PATH, an unknown --baseline, an unreadable file or pattern.
    """
    files = parse_labelled(list(args.completions))
    baseline = args.baseline or next(iter(files))
    if baseline not in files:
        raise InputError(f"--baseline {baseline!r}: expected one of the labels {list(files)}")
    patterns = load_patterns(args.patterns, args.add_pattern)
    texts = {lab: read_texts(p, strip_score_tags=not args.keep_score_tags) for lab, p in files.items()}
    budget = min(sum(len(words(t)) for t in ts) for ts in texts.values())
    results = {lab: compute_metrics(ts, patterns, vocab_budget=budget) for lab, ts in texts.items()}
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "report.md") as f:
        f.write(render_report(results, baseline, patterns))
    write_chart(out / "metrics.png", results)
    payload = manifest_base(kind="diversity_report", baseline=baseline, patterns=patterns,
                            inputs={lab: {"path": p, "sha256": sha256_file(p)} for lab, p in files.items()},
                            metrics=results,
                            directions={m.key: m.better for m in METRICS})
    write_json(out / "metrics.json", payload)
    return payload


def build_argparser() -> argparse.ArgumentParser:
    """The `python -m grpo_bt_rm.reports.diversity` argument parser."""
    p = argparse.ArgumentParser(prog="python -m grpo_bt_rm.reports.diversity", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--completions", action="append", required=True, metavar="LABEL=PATH",
                   help="a model's completions file, repeatable (at least two): eval --save_completions output or "
                   "JSONL with a 'text' field")
    p.add_argument("--baseline", default=None, help="label the others are compared against (default: the first)")
    p.add_argument("--out_dir", default=None,
                   help="output directory for report.md, metrics.json, metrics.png "
                   "(default $GRPO_BT_RM_BASE_DIR/diversity)")
    p.add_argument("--patterns", default=None,
                   help="JSON file {name: regex} replacing the default stock-construction patterns")
    p.add_argument("--add_pattern", action="append", default=None, metavar="NAME=REGEX",
                   help="add one stock-construction pattern (repeatable)")
    p.add_argument("--keep_score_tags", action="store_true",
                   help="keep <s>NN</s> score tags in the text (by default they are removed before counting)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: compare models' completion diversity; returns the exit code (2 on bad input)."""
    settings = settings_from_args(DiversitySettings, build_argparser().parse_args(argv))
    return run_cli(lambda: f"wrote {settings.out_dir}/report.md, metrics.json, metrics.png "
                           f"({len(run(settings)['metrics'])} models)")


if __name__ == "__main__":
    sys.exit(main())
