"""Build the pointwise GRPO dataset: two adjacent JSONL rows per preference pair (side 0, then side 1).

    python -m grpo_bt_rm.data.build_dataset --dataset anthropic_hh --split test --prompt hh_score100_v1 \\
        --out hh_test.jsonl --add_meta [--data_files 'raw/*.jsonl'] [--limit 1000 --shuffle --seed 0]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import random
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path

from grpo_bt_rm.argtypes import COUNT, SEED
from grpo_bt_rm.cli import run_cli
from grpo_bt_rm.data.adapters import ADAPTERS, load_pairs
from grpo_bt_rm.data.pairs import LoadStats, Pair, prompt_id
from grpo_bt_rm.io import InputError, SettingsError, manifest_base, sha256_file, write_with_manifest
from grpo_bt_rm.prompts import FAMILIES, PROMPTS, PromptSpec, get_prompt
from grpo_bt_rm.prompts import default_prompt as family_default_prompt
from grpo_bt_rm.settings import check_lower_bounds, settings_from_args

log = logging.getLogger(__name__)

DEFAULT_DATASET = "summarize_from_feedback"


@dataclass(frozen=True)
class BuildSettings:
    """build_dataset's settings, one field per flag (same name), validated on construction.

    `dataset` holds the --dataset values as given (each may be comma-separated); None means
    summarize_from_feedback. `prompt` None means the dataset family's default (resolved by `build`, not stored here).

    Raises:
        SettingsError: a value out of range; the message names the flag.
    """

    out: str
    dataset: tuple[str, ...] | None = None
    split: str = "train"
    data_files: tuple[str, ...] | None = None
    limit: int | None = None
    prompt: str | None = None
    add_meta: bool = False
    seed: int = 0
    shuffle: bool = False
    randomize_sides: bool = True
    dedupe: bool = False
    skip_bad: bool = False

    def __post_init__(self) -> None:
        if not self.dataset:
            object.__setattr__(self, "dataset", (DEFAULT_DATASET,))
        for name in ("dataset", "data_files"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
        if not self.out:
            raise SettingsError("--out: expected an output path")
        check_lower_bounds(self, (("limit", 1), ("seed", 0)))

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> BuildSettings:
        """The settings from `build_argparser()`'s parsed flags."""
        return settings_from_args(cls, args)

    def as_dict(self) -> dict:
        """The settings as a JSON-ready dict (tuples become lists), for the manifest."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}


def parse_sources(datasets: list[str], data_files: list[str] | None) -> list[tuple[str, list[str] | None]]:
    """[(dataset, files-or-None)]. With several datasets each --data_files entry must be `name=glob`."""
    names = [d.strip() for item in datasets for d in item.split(",") if d.strip()]
    if not names:
        raise InputError("--dataset: expected at least one dataset name")
    for n in names:
        ADAPTERS.get(n)
    files: dict[str, list[str]] = {}
    for entry in data_files or []:
        name, sep, pattern = entry.partition("=")
        if sep and name in ADAPTERS:
            if name not in names:
                raise InputError(f"--data_files {entry!r}: dataset {name!r} is not in --dataset {names}")
            files.setdefault(name, []).append(pattern)
        elif len(names) == 1:
            files.setdefault(names[0], []).append(entry)
        else:
            raise InputError(f"--data_files {entry!r}: with several datasets write NAME=PATH (NAME in {names})")
    return [(n, files.get(n)) for n in names]


def default_prompt(datasets: list[str]) -> str:
    """The default judge prompt for these datasets: their family's (`prompts.default_prompt`), so a Reddit-summary
    prompt never judges dialogues.

    Args:
        datasets: adapter names, each entry possibly comma-separated (as --dataset takes them).

    Returns:
        The prompt name, e.g. "hh_score100_v1" for anthropic_hh.

    Raises:
        InputError: the datasets belong to different prompt families.
        KeyError: an unknown adapter name (the message lists the valid ones).
    """
    names = [d.strip() for item in datasets for d in item.split(",") if d.strip()]
    families = sorted({ADAPTERS.get(n).family for n in names})
    if len(families) != 1:
        raise InputError(f"--dataset {names}: sources of different prompt families ({', '.join(families)}); "
                         f"pass --prompt (one of {PROMPTS.names()})")
    return family_default_prompt(families[0]).name


def side_flip(seed: int, key: str) -> bool:
    """Whether this pair's responses are swapped: a pure function of (seed, pair key), so independent of order."""
    return hashlib.md5(f"{seed}\x00{key}".encode()).digest()[0] & 1 == 1


def prepare_pairs(
    sources: list[tuple[str, list[str] | None]],
    split: str,
    *,
    seed: int = 0,
    shuffle: bool = False,
    randomize_sides: bool = True,
    dedupe: bool = False,
    limit: int | None = None,
    skip_bad: bool = False,
) -> tuple[list[Pair], LoadStats]:
    """Load pairs from one or more sources and apply dedupe, shuffle, limit and side randomisation, in that order.

    Args:
        sources: `(adapter name, data_files or None)` per source, read in order.
        split: the split to read from every source.
        seed: seeds the shuffle and the per-pair side flip (`side_flip(seed, pair.key)`).
        shuffle: shuffle pairs before `limit`.
        randomize_sides: swap each pair's responses when the seeded flip says so, so side 0 is not always chosen.
        dedupe: drop repeated `(context, {response_0, response_1})` pairs; counted as `dropped["duplicate"]`.
        limit: keep at most this many pairs.
        skip_bad: count malformed raw rows instead of raising.

    Returns:
        `(pairs, stats)`: the list of `Pair` and the merged `LoadStats` (`stats.pairs` is the final count).

    Raises:
        InputError: a source cannot be read, or a malformed row without `skip_bad`.
        KeyError: an unknown adapter name.
    """
    stats = LoadStats()
    pairs: list[Pair] = []
    for name, files in sources:
        got, stats = load_pairs(name, split, files, skip_bad=skip_bad, stats=stats)
        pairs.extend(got)
    if dedupe:
        seen: set[tuple[str, str, str]] = set()
        kept = []
        for p in pairs:
            k = (p.context, *sorted((p.response_0, p.response_1)))
            if k in seen:
                stats.dropped["duplicate"] += 1
                continue
            seen.add(k)
            kept.append(p)
        pairs = kept
    if shuffle:
        random.Random(seed).shuffle(pairs)
    if limit is not None:
        pairs = pairs[:limit]
    if randomize_sides:
        pairs = [p.swapped() if side_flip(seed, p.key) else p for p in pairs]
    stats.pairs = len(pairs)
    return pairs, stats


def pointwise_rows(pairs: Iterable[Pair], prompt: PromptSpec, add_meta: bool) -> Iterator[dict]:
    """Yield two pointwise rows per pair (side 0, then side 1), each a judge conversation for one response.

    Args:
        pairs: the pairs; `pair_id` is the position in this iterable.
        prompt: the judge prompt that renders `messages`.
        add_meta: also write prompt name/version, parser, dataset, split, source_index and prompt_id.

    Returns:
        An iterator of dicts with `messages`, `pair_id`, `side`, `preferred_side` (+ metadata): 2 rows per pair.
    """
    for pair_id, p in enumerate(pairs):
        pid = prompt_id(p.context) if add_meta else None
        for side, response in ((0, p.response_0), (1, p.response_1)):
            row = {
                "messages": prompt.render(p.context, response),
                "pair_id": pair_id,
                "side": side,
                "preferred_side": p.preferred_side,
            }
            if add_meta:
                row.update(
                    prompt_name=prompt.name,
                    prompt_version=prompt.version,
                    parser_name=prompt.parser,
                    dataset=p.meta.get("dataset"),
                    split=p.meta.get("split"),
                    source_index=p.source_index,
                    prompt_id=pid,
                )
            yield row


def build(args: BuildSettings) -> dict:
    """Read the pairs, write two pointwise rows per pair to `args.out` with its manifest (atomically, together).

    Args:
        args: the settings (field names are the flags').

    Returns:
        The manifest written to `<out>.manifest.json` (counts, drops, prompt, sources, input files, settings).

    Raises:
        InputError: unreadable or malformed raw rows (without --skip_bad), no pairs left, mixed prompt families.
        KeyError: an unknown dataset or prompt name.
    """
    start = time.time()
    datasets = list(args.dataset)
    sources = parse_sources(datasets, args.data_files)
    prompt_name = args.prompt
    if prompt_name is None:
        prompt_name = default_prompt(datasets)
        log.info("--prompt not given: %s (the default for %s)", prompt_name, ", ".join(datasets))
    prompt = get_prompt(prompt_name)
    pairs, stats = prepare_pairs(
        sources,
        args.split,
        seed=args.seed,
        shuffle=args.shuffle,
        randomize_sides=args.randomize_sides,
        dedupe=args.dedupe,
        limit=args.limit,
        skip_bad=args.skip_bad,
    )
    if not pairs:
        raise InputError(f"no pairs left to write (read {stats.rows} rows, dropped {dict(stats.dropped)})")
    n_rows = 0
    dumps = json.JSONEncoder(ensure_ascii=False).encode

    def write_rows(f) -> None:
        """Write every pointwise row as one JSON line to `f`, counting them in `n_rows`."""
        nonlocal n_rows
        for row in pointwise_rows(pairs, prompt, args.add_meta):
            f.write(dumps(row))
            f.write("\n")
            n_rows += 1

    def make_manifest(written: Path) -> dict:
        """The output's manifest: sha256 of the written file, counts, drops, prompt, sources and settings."""
        return manifest_base(
            kind="pointwise_dataset",
            output=str(args.out),
            sha256=sha256_file(written),
            pairs=len(pairs),
            rows=n_rows,
            raw_rows=stats.rows,
            dropped=dict(sorted(stats.dropped.items())),
            malformed=stats.malformed,
            malformed_examples=stats.malformed_examples[:10],
            prompt={"name": prompt.name, "version": prompt.version, "parser": prompt.parser},
            sources=[{"dataset": n, "data_files": f} for n, f in sources],
            input_files=stats.files,
            args={**args.as_dict(), "prompt": prompt.name},  # the flags, with the prompt as resolved
            seconds=round(time.time() - start, 3),
        )

    # the rows and their manifest land together (manifest first) or not at all, e.g. on a full disk
    manifest = write_with_manifest(args.out, write_rows, make_manifest)
    return manifest


def build_argparser() -> argparse.ArgumentParser:
    """The `python -m grpo_bt_rm.data.build_dataset` argument parser."""
    p = argparse.ArgumentParser(prog="python -m grpo_bt_rm.data.build_dataset", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output JSONL path (written atomically, plus <out>.manifest.json)")
    p.add_argument("--dataset", action="append", default=None,
                   help=f"source adapter(s), repeatable or comma-separated; one of {ADAPTERS.names()} "
                   "(default summarize_from_feedback)")
    p.add_argument("--split", default="train", help="split to read (hub split name, or a label for local files)")
    p.add_argument("--data_files", action="extend", nargs="+", default=None, metavar="FILE",
                   help="local raw-format file(s) instead of the hub; several values and repeatable, globs allowed; "
                   "with several datasets write NAME=PATH")
    p.add_argument("--limit", type=COUNT, default=None, help="keep at most this many pairs (after dedupe/shuffle)")
    p.add_argument("--prompt", default=None,
                   help=f"judge prompt, one of {PROMPTS.names()} (default: the dataset family's: "
                   + ", ".join(f"{f} -> {family_default_prompt(f).name}" for f in FAMILIES) + ")")
    p.add_argument("--add_meta", action="store_true",
                   help="add prompt_name/version, parser_name, dataset, split, source_index, prompt_id to rows")
    p.add_argument("--seed", type=SEED, default=0, help="seed for --shuffle and --randomize_sides")
    p.add_argument("--shuffle", action="store_true", help="shuffle pairs (seeded) before --limit")
    p.add_argument("--randomize_sides", action=argparse.BooleanOptionalAction, default=True,
                   help="draw from the seed which response is side 0 (default on)")
    p.add_argument("--dedupe", action="store_true", help="drop repeated (context, response, response) pairs")
    p.add_argument("--skip_bad", action="store_true",
                   help="skip malformed raw rows (counted in the manifest) instead of stopping")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: build a pointwise dataset; returns the exit code (2 on input or settings errors)."""
    args = build_argparser().parse_args(argv)

    def command() -> None:
        """Build the dataset from the parsed flags and log the counts."""
        settings = BuildSettings.from_args(args)
        m = build(settings)
        log.info("wrote %d rows (%d pairs) to %s; dropped %s; malformed %d; %.1fs", m["rows"], m["pairs"],
                 settings.out, m["dropped"], m["malformed"], m["seconds"])

    return run_cli(command)


if __name__ == "__main__":
    sys.exit(main())
