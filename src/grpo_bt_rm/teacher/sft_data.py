"""Turn teacher records into ms-swift SFT JSONL: `{"messages": [user, assistant]}`, one row per kept response.

    python -m grpo_bt_rm.teacher.sft_data --input_dirs '~/.cache/grpo_bt_rm/teacher_data/score100_*' \\
        --output sft.jsonl --prompt hh_score100_v1 --filter_correct --include_both_sides

The user turn is the registered prompt rendered for the pair's response (pair texts are reloaded through the
dataset adapter named in the teacher manifest, and each record's content hash must match the pair reloaded).
The assistant turn is the teacher's explanation plus exactly one score tag, in the order the prompt asks for:
score-first (tag, then explanation), reason-first (explanation, then the tag on the last line) or score-only
(the tag alone). A teacher's reasoning block (`<think>`...`</think>`) never enters a target unless
`--keep_reasoning` puts it, unchanged, before the turn.
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from grpo_bt_rm.argtypes import float_in
from grpo_bt_rm.cli import run_cli
from grpo_bt_rm.data import Pair, load_pairs
from grpo_bt_rm.io import InputError, SettingsError, atomic_write, manifest_base, sha256_file, write_json
from grpo_bt_rm.parsing import find_tags, get_parser, strip_reasoning
from grpo_bt_rm.prompts import SCALES, PromptSpec, get_prompt
from grpo_bt_rm.settings import check_lower_bounds, settings_from_args
from grpo_bt_rm.teacher import records as rec_io
from grpo_bt_rm.teacher.tasks import content_hash, reasoning_of

log = logging.getLogger(__name__)


def assistant_turn(prompt: PromptSpec, score: float, reasoning: str, thinking: str = "") -> str:
    """The teacher's judgement rewritten in the prompt's order, with exactly one canonical score tag.
    `reasoning` is the explanation (any reasoning block or stray tag in it is dropped); `thinking` is a whole
    reasoning block to put first (only with --keep_reasoning)."""
    parser = get_parser(prompt.parser)
    tag = parser.format(score)
    reasoning = reasoning_of(reasoning, parser.reasoning_tag)  # no <think> block, no stray tags
    if prompt.order == "score_only" or not reasoning:
        text = tag
    elif prompt.order == "score_first":
        text = f"{tag}\n{reasoning}"
    else:
        text = f"{reasoning}\n{tag}"
    if thinking:
        text = f"{thinking}\n{text}"
    answer = strip_reasoning(text, parser.reasoning_tag)
    if answer is None or len(find_tags(answer)) != 1 or parser.parse(text) != score:
        raise ValueError(f"internal: assistant turn for {prompt.name} does not parse back to {score}: {text!r}")
    return text


def thinking_of(text: str | None, tag: str) -> str:
    """The reasoning part of a raw teacher answer, as written: everything up to its last closing tag, when the
    answer has reasoning blocks that close (a pre-filled opening included); "" otherwise."""
    if not text or not tag or strip_reasoning(text, tag) in (None, text):
        return ""
    end = text.lower().rfind(f"</{tag.lower()}>")
    return text[:end + len(tag) + 3].strip() if end >= 0 else ""


def find_dirs(patterns: list[str]) -> list[Path]:
    """The teacher run directories matching `--input_dirs` patterns (those holding results.jsonl), without repeats.

    Raises:
        InputError: a pattern matches no directory with a results file.
    """
    dirs: list[Path] = []
    for pat in patterns:
        matches = sorted(Path(m) for m in glob.glob(os.path.expanduser(pat)))
        matches = [m for m in matches if (m / rec_io.RESULTS).exists()]
        if not matches:
            raise InputError(f"--input_dirs {pat!r}: no directory with a {rec_io.RESULTS} matches")
        dirs.extend(m for m in matches if m not in dirs)
    return dirs


def _manifest(d: Path) -> dict:
    path = d / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


@dataclass(frozen=True)
class SftDataSettings:
    """build_sft_data's settings, one field per flag (same name). min_margin is in score units.

    Raises:
        SettingsError: no --input_dirs, or a negative --min_margin.
    """

    input_dirs: tuple[str, ...]
    output: str
    prompt: str | None = None
    scale: str | None = None
    filter_correct: bool = False
    min_margin: float = 0.0
    include_both_sides: bool = False
    keep_reasoning: bool = False
    dataset: str | None = None
    split: str | None = None
    data_files: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_dirs", tuple(self.input_dirs))
        if self.data_files is not None:
            object.__setattr__(self, "data_files", tuple(self.data_files))
        if not self.input_dirs:
            raise SettingsError("--input_dirs: expected at least one teacher run directory")
        check_lower_bounds(self, (("min_margin", 0),))

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> SftDataSettings:
        """The settings from `build_argparser()`'s parsed flags."""
        return settings_from_args(cls, args)


def build(args: SftDataSettings) -> dict:
    """Turn teacher records into SFT rows (user turn: the prompt; assistant turn: the teacher's score) and write
    `args.output` with its manifest.

    Returns:
        The report: rows written, pairs kept and dropped by reason, inputs, output path.

    Raises:
        InputError: no teacher directory, runs that disagree (prompt, dataset, split), records whose pair
            content changed, a --scale that disagrees with the prompt. KeyError: an unknown prompt.
    """
    dirs = find_dirs(list(args.input_dirs))
    manifests = {d: _manifest(d) for d in dirs}
    prompt = get_prompt(args.prompt or _only(manifests, "prompt", "--prompt"))
    if args.scale and args.scale != prompt.scale:
        raise InputError(f"--scale {args.scale} disagrees with --prompt {prompt.name} (scale {prompt.scale})")
    low, high = prompt.score_range
    dataset = args.dataset or _only(manifests, "dataset", "--dataset")
    split = args.split or _only(manifests, "split", "--split")
    files = list(args.data_files or ()) or next((m["data_files"] for m in manifests.values() if m.get("data_files")), None)
    pairs, _ = load_pairs(dataset, split, files, skip_bad=True)
    by_index: dict[int, Pair] = {p.source_index: p for p in pairs}

    tag = get_parser(prompt.parser).reasoning_tag
    unchecked = 0  # records from before content hashes: used, but their pair cannot be checked
    drops: Counter = Counter()
    kept_pairs: set[str] = set()
    rows: list[dict] = []
    inputs = []
    for d in dirs:
        results = d / rec_io.RESULTS
        inputs.append({"dir": str(d), "results_sha256": sha256_file(results), "teacher_model": manifests[d].get(
            "model"), "teacher_prompt": manifests[d].get("prompt")})
        scale = manifests[d].get("scale")
        if scale and scale != prompt.scale:
            raise InputError(f"{d}: teacher scale {scale} differs from --prompt {prompt.name} scale {prompt.scale}")
        recs, _ = rec_io.read_records(results)
        line_of = {id(r): i for i, r in enumerate(recs, 1)}
        for rec in rec_io.latest_by_key(recs).values():
            loc = f"{results}: record {line_of[id(rec)]} ({rec['pair_key']})"
            if rec.get("dataset") != dataset or rec.get("split") != split:
                raise InputError(f"{loc}: dataset/split {rec.get('dataset')}/{rec.get('split')} is not the "
                                 f"requested {dataset}/{split}")
            if rec["pair_key"] in kept_pairs:
                drops["duplicate"] += 1
                continue
            reason = _drop_reason(rec, args, low, high)
            if reason:
                drops[reason] += 1
                continue
            pair = by_index.get(rec.get("source_index"))
            if pair is None:
                raise InputError(f"{loc}: source_index {rec.get('source_index')} is not in {dataset}/{split} "
                                 f"(data files {files})")
            if rec.get("content_sha") is None:
                unchecked += 1
            elif rec["content_sha"] != content_hash(pair):
                raise InputError(f"{loc}: the teacher judged other texts than pair {pair.key} of {files} holds now "
                                 "(content hash mismatch: files reordered or edited); pass the teacher's "
                                 "--data_files in their original order")
            kept_pairs.add(rec["pair_key"])
            sides = (0, 1) if args.include_both_sides else (pair.preferred_side,)
            for side in sides:
                response = pair.response_0 if side == 0 else pair.response_1
                messages = prompt.render(pair.context, response)
                thinking = thinking_of(rec.get(f"text{side}"), tag) if args.keep_reasoning else ""
                messages.append({"role": "assistant", "content": assistant_turn(
                    prompt, float(rec[f"score{side}"]), rec.get(f"reasoning{side}") or "", thinking)})
                rows.append({"messages": messages})
    with atomic_write(args.output) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    report = {"rows": len(rows), "pairs_kept": len(kept_pairs), "dropped": dict(sorted(drops.items())),
              "unchecked_content": unchecked, "output": str(args.output)}
    if unchecked:
        log.warning("%d kept records predate content hashes: their pair texts could not be checked", unchecked)
    write_json(str(args.output) + ".manifest.json", manifest_base(
        **report, prompt_name=prompt.name, prompt_version=prompt.version, parser_name=prompt.parser,
        dataset=dataset, split=split, data_files=files, inputs=inputs, filter_correct=args.filter_correct,
        min_margin=args.min_margin, include_both_sides=args.include_both_sides, keep_reasoning=args.keep_reasoning,
        parser=get_parser(prompt.parser).describe(), sha256=sha256_file(args.output)))
    return report


def _only(manifests: dict, key: str, flag: str) -> str:
    values = {m.get(key) for m in manifests.values() if m.get(key)}
    if len(values) != 1:
        raise InputError(f"{flag}: cannot infer it from the input manifests (found {sorted(values) or 'none'}); "
                         "pass it explicitly")
    return values.pop()


def _drop_reason(rec: dict, args: SftDataSettings, low: float, high: float) -> str | None:
    if rec.get("error") is not None:
        return "error"
    s0, s1 = rec.get("score0"), rec.get("score1")
    if s0 is None or s1 is None:
        return "parse_failure"
    if not (low <= s0 <= high and low <= s1 <= high):
        return "out_of_range"
    margin = (s0 - s1) if rec.get("label") == 0 else (s1 - s0)
    if args.filter_correct:
        if margin == 0:
            return "tie"
        if margin < 0:
            return "incorrect"
    if args.min_margin and abs(margin) < args.min_margin:
        return "below_margin"
    return None


def build_argparser() -> argparse.ArgumentParser:
    """The `python -m grpo_bt_rm.teacher.sft_data` argument parser."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input_dirs", action="extend", nargs="+", required=True, help="teacher run directories or globs (each holding "
                   "results.jsonl); a pair found in several is used once (first directory wins)")
    p.add_argument("--output", required=True, help="output SFT JSONL (a .manifest.json is written next to it)")
    p.add_argument("--prompt", help="registered prompt for the user turn; its order decides the assistant turn's "
                   "layout (default: the prompt the teacher runs used)")
    p.add_argument("--scale", choices=sorted(SCALES), help="expected scale (checked against --prompt and the "
                   "teacher runs)")
    p.add_argument("--filter_correct", action="store_true", help="keep only pairs the teacher ranked correctly "
                   "(chosen scored strictly above rejected)")
    p.add_argument("--min_margin", type=float_in(0), default=0.0, help="keep only pairs whose |score difference| is at "
                   "least this (in score units; with --filter_correct, chosen minus rejected)")
    p.add_argument("--include_both_sides", action="store_true", help="one example per response (2 per pair); "
                   "default: only the preferred response")
    p.add_argument("--keep_reasoning", action="store_true", help="put the teacher's reasoning block (<think>...</think>"
                   ", as it wrote it) before each target; default: targets never carry a reasoning block")
    p.add_argument("--dataset", help="dataset the records must come from (default: the teacher manifests')")
    p.add_argument("--split", help="split the records must come from (default: the teacher manifests')")
    p.add_argument("--data_files", action="extend", nargs="+", metavar="FILE", help="raw files for the pair texts (default: the teacher manifest's)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: build SFT data from teacher runs, print the manifest; returns the exit code."""
    args = build_argparser().parse_args(argv)
    return run_cli(lambda: json.dumps(build(SftDataSettings.from_args(args)), indent=2))


if __name__ == "__main__":
    sys.exit(main())
