"""Read unique prompts (prompt_id, text, pairs using it) from pointwise builder files, pairs JSONL or adapters.

    table = collect_prompts(["hh_train.jsonl"])               # pointwise rows from build_dataset
    table = collect_prompts([], sources=[("anthropic_hh", ["raw/*.jsonl"])], split="train")

A pointwise row's prompt id is its `prompt_id` column (written by `build_dataset --add_meta`); its text is
recovered from the rendered user turn by inverting the judge prompt's template (`prompt_name`, or any template
that matches). Rows without `prompt_id` get `prompt_id(recovered context)`; `attach` uses the same rule.
"""

from __future__ import annotations

import logging
import re
import string
from dataclasses import dataclass, field
from functools import cache

from grpo_bt_rm.data.pairs import prompt_id
from grpo_bt_rm.data.pointwise import read_pointwise
from grpo_bt_rm.io import InputError, iter_jsonl, where
from grpo_bt_rm.prompts import PROMPTS, get_prompt

log = logging.getLogger(__name__)


@dataclass
class PromptTable:
    """Unique prompts in order of first appearance, with how many pairs use each."""

    ids: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    pairs: list[int] = field(default_factory=list)
    rows: int = 0
    _pos: dict[str, int] = field(default_factory=dict)

    def add(self, pid: str, text: str, new_pair: bool) -> None:
        """Record one row of prompt `pid` (adding `text` on its first appearance); count a pair if `new_pair`."""
        i = self._pos.get(pid)
        if i is None:
            self._pos[pid] = len(self.ids)
            self.ids.append(pid)
            self.texts.append(text)
            self.pairs.append(0)
            i = len(self.ids) - 1
        if new_pair:
            self.pairs[i] += 1

    @property
    def n_pairs(self) -> int:
        """The number of pairs over all prompts."""
        return sum(self.pairs)


@cache
def _template_regex(template: str) -> re.Pattern:
    parts = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name == "context":
            parts.append(r"(?P<context>.*?)")
        elif name == "response":
            parts.append(r"(?P<response>.*)")
        elif name is not None:
            parts.append(r".*?")
    return re.compile("".join(parts), re.DOTALL)


def _user_text(row: dict, loc: str) -> str:
    msgs = row.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise InputError(f"{loc}: field 'messages' must be a non-empty list of chat messages")
    users = [m.get("content") for m in msgs if isinstance(m, dict) and m.get("role") == "user"]
    if not users or not isinstance(users[-1], str):
        raise InputError(f"{loc}: field 'messages' has no user turn with string content")
    return users[-1]


def context_from_row(row: dict, loc: str) -> str:
    """The judged context inside a pointwise row's user turn, found by inverting its prompt template."""
    user = _user_text(row, loc)
    names = [row["prompt_name"]] if isinstance(row.get("prompt_name"), str) else PROMPTS.names()
    for name in names:
        try:
            spec = get_prompt(name)
        except KeyError as e:
            raise InputError(f"{loc}: field 'prompt_name': {e.args[0] if e.args else name}") from None
        m = _template_regex(spec.template).fullmatch(user)
        if m:
            return m.group("context")
    raise InputError(f"{loc}: field 'messages': the user turn does not match the template of "
                     f"{'prompt ' + names[0] if len(names) == 1 else 'any registered prompt'}")


def row_prompt_id(row: dict, loc: str) -> str:
    """The prompt id of a pointwise row: its `prompt_id` column, else md5 of the recovered context."""
    pid = row.get("prompt_id")
    if pid is not None:
        if not isinstance(pid, str) or not pid:
            raise InputError(f"{loc}: field 'prompt_id' must be a non-empty string, got {pid!r}")
        return pid
    return prompt_id(context_from_row(row, loc))


def is_pointwise_file(path: str) -> bool:
    """Whether a JSONL file holds pointwise rows (its first row has `messages`) rather than pairs.

    Raises:
        InputError: the file has no rows.
    """
    for _, obj in iter_jsonl(path):
        return "messages" in obj
    raise InputError(f"{path}: file has no rows")


def _add_pointwise(table: PromptTable, path: str, file_no: int, seen_pairs: dict) -> None:
    for lineno, row in read_pointwise(path):
        loc = where(path, lineno)
        table.rows += 1
        pid = row_prompt_id(row, loc)
        if "pair_id" not in row:
            raise InputError(f"{where(path, lineno, 'pair_id')}: missing (expected the builder's pair id)")
        key = (file_no, row["pair_id"])
        prev = seen_pairs.get(key)
        if prev is not None and prev != pid:
            raise InputError(f"{where(path, lineno, 'prompt_id')}: pair {row['pair_id']} has prompt {pid} here but "
                             f"{prev} on its other side")
        text = context_from_row(row, loc) if pid not in table._pos else ""
        table.add(pid, text, new_pair=prev is None)
        seen_pairs[key] = pid


def collect_prompts(inputs: list[str], sources: list[tuple[str, list[str] | None]] | None = None,
                    split: str = "train", skip_bad: bool = False) -> PromptTable:
    """Unique prompts from pointwise files, pairs JSONL files (`prompt`/`chosen`/`rejected`) and adapter sources."""
    from grpo_bt_rm.data import load_pairs

    table = PromptTable()
    seen_pairs: dict = {}
    for file_no, path in enumerate(inputs):
        if is_pointwise_file(path):
            _add_pointwise(table, path, file_no, seen_pairs)
        else:
            pairs, _ = load_pairs("pairs_jsonl", split, [path], skip_bad=skip_bad)
            for p in pairs:
                table.rows += 1
                table.add(prompt_id(p.context), p.context, new_pair=True)
    for name, files in sources or []:
        pairs, stats = load_pairs(name, split, files, skip_bad=skip_bad)
        log.info("%s/%s: %d pairs (%s)", name, split, len(pairs), stats.as_dict())
        for p in pairs:
            table.rows += 1
            table.add(prompt_id(p.context), p.context, new_pair=True)
    return table
