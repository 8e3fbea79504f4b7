"""What the teacher is asked and how its answers are read: one item = one response of one pair, with an opaque id.

A single pointwise item is sent as the registered prompt, verbatim. Batches (`--batch_size > 1`) and pairwise
requests wrap several items, each inside `<item id="...">`, and ask for `<answer id="...">` blocks; answers are
matched to items by id only, never by position, and a missing id is a failure of that item.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from grpo_bt_rm.data import Pair
from grpo_bt_rm.parsing import find_tags, get_parser
from grpo_bt_rm.prompts import PromptSpec

_ANSWER_RE = re.compile(r"<answer\s+id\s*=\s*[\"']?([A-Za-z0-9_\-]+)[\"']?\s*>(.*?)</answer\s*>",
                        re.IGNORECASE | re.DOTALL)
_TAG_RE = re.compile(r"<s>(?:(?!<s>).)*?</s>", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Item:
    pair: Pair
    side: int  # which response of the pair (0 or 1)
    item_id: str


@dataclass(frozen=True)
class ItemResult:
    text: str | None
    score: float | None
    parse_error: str | None = None  # no_tag / invalid / out_of_range / missing_id / duplicate_id
    error: str | None = None  # request failure (after retries) or no usable answer block; retried on --resume


def opaque_id(seed: int, key: str, salt: str) -> str:
    """A short id that reveals neither the side nor the label."""
    return hashlib.sha1(f"{seed}\x00{key}\x00{salt}".encode()).hexdigest()[:10]


def a_side(seed: int, key: str) -> int:
    """Which side of the pair is shown first (as A) in pairwise mode: a pure function of (seed, pair key)."""
    return hashlib.md5(f"ab\x00{seed}\x00{key}".encode()).digest()[0] & 1


def pair_items(pair: Pair, seed: int, pairwise: bool) -> list[Item]:
    if not pairwise:
        return [Item(pair, s, opaque_id(seed, pair.key, str(s))) for s in (0, 1)]
    first = a_side(seed, pair.key)
    base = opaque_id(seed, pair.key, "pair")
    return [Item(pair, first, f"{base}-A"), Item(pair, 1 - first, f"{base}-B")]


def _user_text(prompt: PromptSpec, item: Item) -> str:
    response = item.pair.response_0 if item.side == 0 else item.pair.response_1
    return prompt.render(item.pair.context, response)[-1]["content"]


def build_request(items: list[Item], prompt: PromptSpec, pairwise: bool) -> tuple[str | None, str]:
    """(system, user) text of one request."""
    if len(items) == 1 and not pairwise:
        return prompt.system, _user_text(prompt, items[0])
    ids = ", ".join(it.item_id for it in items)
    parts = [
        f"You will judge {len(items)} items. Each item below is a separate, self-contained judging task given "
        "inside <item id=\"...\"> ... </item>. Follow each item's own instructions, including its score format.",
    ]
    if pairwise:
        parts.append("Items whose ids end in -A and -B with the same prefix are two candidate replies to the same "
                     "conversation: read both before scoring, and let their scores show which one is better.")
    parts.append(f"Answer every id exactly once ({ids}), each inside <answer id=\"ID\"> ... </answer>, with "
                 "exactly one score tag per answer. Write nothing outside the answer blocks.")
    header = " ".join(parts)
    body = "\n\n".join(f"<item id=\"{it.item_id}\">\n{_user_text(prompt, it)}\n</item>" for it in items)
    return prompt.system, f"{header}\n\n{body}"


def _score(prompt: PromptSpec, text: str) -> ItemResult:
    parsed = get_parser(prompt.parser).explain(text)
    return ItemResult(text, parsed.score, parsed.reason)


def parse_answer(items: list[Item], text: str, prompt: PromptSpec, pairwise: bool) -> dict[str, ItemResult]:
    """item_id -> result. An item without exactly one matching answer block is a failure (an `error`, so a later
    --resume asks again); an answer without a valid score is a parse failure (`parse_error`, not retried)."""
    if len(items) == 1 and not pairwise:
        return {items[0].item_id: _score(prompt, text)}
    found: dict[str, str] = {}
    duplicated: set[str] = set()
    for m in _ANSWER_RE.finditer(text):
        aid, content = m.group(1), m.group(2).strip()
        if aid in found:
            duplicated.add(aid)
        found.setdefault(aid, content)
    out = {}
    for it in items:
        if it.item_id in duplicated:
            out[it.item_id] = ItemResult(found[it.item_id], None, "duplicate_id", "duplicate_id: several answers")
        elif it.item_id in found:
            out[it.item_id] = _score(prompt, found[it.item_id])
        else:
            out[it.item_id] = ItemResult(None, None, "missing_id", "missing_id: no answer block with this id")
    return out


def reasoning_of(text: str | None) -> str:
    """The teacher's text with every score tag removed and whitespace tidied."""
    if not text:
        return ""
    stripped = _TAG_RE.sub(" ", text)
    lines = [" ".join(line.split()) for line in stripped.splitlines()]
    return "\n".join(line for line in lines if line).strip()


__all__ = ["Item", "ItemResult", "a_side", "build_request", "find_tags", "opaque_id", "pair_items", "parse_answer",
           "reasoning_of"]
