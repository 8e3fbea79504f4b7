"""Dataset adapters: each turns raw rows of one source (hub or local raw-format files) into `Pair`s.

    pairs, stats = load_pairs("summarize_from_feedback", "validation")            # from the hub
    pairs, stats = load_pairs("anthropic_hh", "test", data_files=["hh/*.jsonl"])  # local raw files
"""

from __future__ import annotations

import glob
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any

from grpo_bt_rm.data.hh import hh_pair
from grpo_bt_rm.data.pairs import Drop, LoadStats, MalformedRow, Pair
from grpo_bt_rm.io import InputError, iter_lines, read_text, sha256_file
from grpo_bt_rm.registry import Registry

log = logging.getLogger(__name__)

# convert(row) -> (context, response_0, response_1, preferred_side); raises Drop or MalformedRow.
Converter = Callable[[dict], tuple[str, str, str, int]]


@dataclass(frozen=True)
class Adapter:
    """One preference-data source: where its raw rows live and how to turn a row into a pair.

    Attributes:
        name: the registry name passed as `--dataset`.
        hub_id: Hugging Face hub dataset id; empty when the source only exists as local files.
        hub_config: the hub config name, or None.
        splits: the hub's split names (empty: any split label is accepted).
        family: the prompt family that fits this source (chooses the default judge prompt).
        convert: `row -> (context, response_0, response_1, preferred_side)`; raises `Drop` or `MalformedRow`.
    """
    name: str
    hub_id: str
    hub_config: str | None
    splits: tuple[str, ...]
    family: str  # the prompt family that fits this source
    convert: Converter


ADAPTERS: Registry[Adapter] = Registry("dataset")


def get_adapter(name: str) -> Adapter:
    """The adapter registered under `name`.

    Raises:
        KeyError: unknown name; the message lists the valid adapter names.
    """
    return ADAPTERS.get(name)


def _field(row: Any, dotted: str, kind: type | tuple[type, ...] = str) -> Any:
    cur = row
    for part in dotted.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise MalformedRow(dotted, "missing")
    if not isinstance(cur, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise MalformedRow(dotted, f"expected {names}, got {type(cur).__name__}")
    return cur


def _distinct(a: str, b: str) -> tuple[str, str]:
    a, b = a.strip(), b.strip()
    if not a or not b:
        raise Drop("empty_response")
    if a == b:
        raise Drop("identical")
    return a, b


# --- summarize_from_feedback --------------------------------------------------------------------------------


def _sff(row: dict) -> tuple[str, str, str, int]:
    info = _field(row, "info", dict)
    post = info.get("post") or info.get("article")
    if not isinstance(post, str):
        raise MalformedRow("info.post", "missing")
    lines = []
    if isinstance(info.get("subreddit"), str) and info["subreddit"]:
        lines.append(f"SUBREDDIT: r/{info['subreddit']}")
    if isinstance(info.get("title"), str) and info["title"]:
        lines.append(f"TITLE: {info['title']}")
    lines.append(post.strip())
    choice = _field(row, "choice", int)
    if choice not in (0, 1):
        raise MalformedRow("choice", f"expected 0 or 1, got {choice}")
    s0, s1 = _distinct(_field(row, "summaries.0.text"), _field(row, "summaries.1.text"))
    return "\n".join(lines), s0, s1, choice


# --- anthropic_hh ---------------------------------------------------------------------------------------------


def _hh(row: dict) -> tuple[str, str, str, int]:
    context, chosen, rejected = hh_pair(_field(row, "chosen"), _field(row, "rejected"))
    return context, chosen, rejected, 0


# --- ultrafeedback_binarized ----------------------------------------------------------------------------------


def _last_assistant(messages: list, name: str) -> str:
    for i in range(len(messages) - 1, -1, -1):
        msg = messages[i]
        if not isinstance(msg, dict) or not isinstance(msg.get("content"), str):
            raise MalformedRow(f"{name}.{i}.content", "missing")
        if msg.get("role") == "assistant":
            return msg["content"]
    raise Drop("no_final_assistant")


def _ultrafeedback(row: dict) -> tuple[str, str, str, int]:
    prompt = _field(row, "prompt")
    chosen = _last_assistant(_field(row, "chosen", list), "chosen")
    rejected = _last_assistant(_field(row, "rejected", list), "rejected")
    c, r = _distinct(chosen, rejected)
    return prompt.strip(), c, r, 0


# --- stack_exchange_preferences -------------------------------------------------------------------------------


class _TextExtractor(HTMLParser):
    _BLOCK = {"p", "br", "div", "li", "pre", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "hr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data):
        self.parts.append(data)


def strip_html(html: str) -> str:
    """Visible text of an HTML fragment (stdlib html.parser), with block elements as line breaks."""
    ex = _TextExtractor()
    ex.feed(html)
    ex.close()
    lines = [" ".join(line.split()) for line in "".join(ex.parts).splitlines()]
    out, blank = [], False
    for line in lines:
        if line:
            out.append(line)
            blank = False
        elif not blank and out:
            out.append("")
            blank = True
    return "\n".join(out).strip()


def _stack_exchange(row: dict) -> tuple[str, str, str, int]:
    question = strip_html(_field(row, "question"))
    answers = _field(row, "answers", list)
    scored = []
    for i, ans in enumerate(answers):
        text = _field(ans, "text") if isinstance(ans, dict) else None
        if text is None:
            raise MalformedRow(f"answers.{i}", "expected an object with text and pm_score")
        score = _field(ans, "pm_score", (int, float))
        scored.append((float(score), i, strip_html(text)))
    if len(scored) < 2:
        raise Drop("too_few_answers")
    best = max(scored, key=lambda t: (t[0], -t[1]))
    worst = min(scored, key=lambda t: (t[0], t[1]))
    if best[0] == worst[0]:
        raise Drop("no_score_gap")
    b, w = _distinct(best[2], worst[2])
    return question, b, w, 0


# --- pairs_jsonl ----------------------------------------------------------------------------------------------


def _pairs_jsonl(row: dict) -> tuple[str, str, str, int]:
    prompt = _field(row, "prompt")
    c, r = _distinct(_field(row, "chosen"), _field(row, "rejected"))
    return prompt.strip(), c, r, 0


for _a in (
    Adapter("summarize_from_feedback", "openai/summarize_from_feedback", "comparisons", ("train", "validation"),
            "sff", _sff),
    Adapter("anthropic_hh", "Anthropic/hh-rlhf", None, ("train", "test"), "hh", _hh),
    Adapter("ultrafeedback_binarized", "HuggingFaceH4/ultrafeedback_binarized", None, ("train_prefs", "test_prefs"),
            "generic", _ultrafeedback),
    Adapter("stack_exchange_preferences", "HuggingFaceH4/stack-exchange-preferences", None, ("train",),
            "generic", _stack_exchange),
    Adapter("pairs_jsonl", "", None, (), "generic", _pairs_jsonl),
):
    ADAPTERS.add(_a.name, _a)


# --- raw row iteration ----------------------------------------------------------------------------------------


def expand_files(patterns: list[str]) -> list[str]:
    """Expand `--data_files` glob patterns into a list of files, in pattern order, sorted within a pattern.

    Args:
        patterns: paths or globs; `~` is expanded.

    Returns:
        The matching paths without repeats (a file matched by two patterns appears once, at its first match).

    Raises:
        InputError: a pattern matches no file.
    """
    files: list[str] = []
    for pat in patterns:
        matches = sorted(glob.glob(os.path.expanduser(pat)))
        if not matches:
            raise InputError(f"--data_files {pat!r}: no file matches")
        files.extend(m for m in matches if m not in files)
    return files


def _iter_file(path: str) -> Iterator[tuple[str, Any]]:
    """Yield (location, row-or-InputError) for every raw row of one local file."""
    if path.endswith((".parquet", ".arrow")):
        import datasets

        ds = datasets.load_dataset("parquet" if path.endswith(".parquet") else "arrow", data_files=path,
                                   split="train")
        for i, row in enumerate(ds):
            yield f"{path}: row {i}", row
        return
    first = next((line.lstrip()[:1] for _, line in iter_lines(path) if not isinstance(line, InputError)
                  and line.strip()), "")
    if first == "[":  # a JSON array file
        try:
            rows = json.loads(read_text(path))
        except InputError as e:
            yield path, e
            return
        except json.JSONDecodeError as e:
            yield f"{path}:{e.lineno}", InputError(f"{path}:{e.lineno}: invalid JSON ({e.msg})")
            return
        for i, row in enumerate(rows):
            yield f"{path}: item {i}", row
        return
    for lineno, line in iter_lines(path):
        if isinstance(line, InputError):
            yield f"{path}:{lineno}", line
            continue
        if not line.strip():
            continue
        try:
            yield f"{path}:{lineno}", json.loads(line)
        except json.JSONDecodeError as e:
            yield f"{path}:{lineno}", InputError(f"{path}:{lineno}: invalid JSON ({e.msg} at column {e.colno})")


def iter_raw(adapter: Adapter, split: str, data_files: list[str] | None) -> Iterator[tuple[str, Any]]:
    """Yield the raw rows of one source split, each with a human-readable location for error messages.

    Args:
        adapter: the source.
        split: hub split name, or a free label when `data_files` is given.
        data_files: local raw-format files or globs; when set, the hub is not contacted.

    Returns:
        An iterator of `(where, row)`, `where` such as `"org/ds[train] row 12"` or a file and line.

    Raises:
        InputError: no file matches a pattern, the adapter has no hub source and no files were given,
            `split` is not one of the adapter's splits, or the hub cannot be reached (offline, not cached).
    """
    if data_files:
        for path in expand_files(data_files):
            yield from _iter_file(path)
        return
    if not adapter.hub_id:
        raise InputError(f"dataset {adapter.name!r} has no hub source: pass --data_files")
    if adapter.splits and split not in adapter.splits:
        raise InputError(f"--split {split!r} is not a split of {adapter.name}; expected one of {adapter.splits}")
    import datasets

    args = (adapter.hub_id, adapter.hub_config) if adapter.hub_config else (adapter.hub_id,)
    try:
        ds = datasets.load_dataset(*args, split=split)
    except OSError as e:  # ConnectionError, offline mode, not in the cache: one clear line, not a long traceback
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InputError(f"--dataset {adapter.name}: cannot load {adapter.hub_id} from the hub ({reason}). No "
                         "network: pass --data_files with local raw files (see README section 1)") from None
    for i, row in enumerate(ds):
        yield f"{adapter.hub_id}[{split}] row {i}", row


def load_pairs(
    dataset: str,
    split: str,
    data_files: list[str] | None = None,
    skip_bad: bool = False,
    stats: LoadStats | None = None,
) -> tuple[list[Pair], LoadStats]:
    """All pairs of one source split, in source order. Malformed rows raise InputError unless `skip_bad`."""
    adapter = get_adapter(dataset)
    stats = stats if stats is not None else LoadStats()
    pairs: list[Pair] = []
    for path in expand_files(data_files or []):
        stats.files[os.path.abspath(path)] = sha256_file(path)
    for index, (loc, row) in enumerate(iter_raw(adapter, split, data_files)):
        stats.rows += 1
        try:
            if isinstance(row, InputError):
                raise row
            if not isinstance(row, dict):
                raise InputError(f"{loc}: expected a JSON object, got {type(row).__name__}")
            try:
                context, r0, r1, pref = adapter.convert(row)
            except MalformedRow as e:
                raise InputError(f"{loc}: field {e.field!r} {e.problem} ({dataset} raw format)") from None
        except InputError as e:
            if not skip_bad:
                raise
            stats.malformed += 1
            stats.malformed_examples.append(str(e))
            continue
        except Drop as d:
            stats.dropped[d.reason] += 1
            continue
        pairs.append(Pair(context, r0, r1, pref, index, {"dataset": dataset, "split": split}))
    stats.pairs += len(pairs)
    return pairs, stats
