"""What the teacher is asked and how its answers are read: one item = one response of one pair, with an opaque id.

A single pointwise item is sent as the registered prompt, verbatim. Batches (`--batch_size > 1`) and pairwise
requests wrap several items, each inside `<item id="...">`, and ask for `<answer id="...">` blocks; answers are
matched to items by id only, never by position, and a missing id is a failure of that item.

Answers are read with the prompt's parser, so a reasoning block (`<think>`...`</think>`) never counts, a cut-off
answer (the provider's max_tokens / length / MAX_TOKENS) gets no score unless the rules allow it (`truncated`),
and a withheld one is `blocked`: neither is asked again, since the same request gives the same answer.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from grpo_bt_rm.data import Pair
from grpo_bt_rm.parsing import get_parser, strip_reasoning, strip_tags
from grpo_bt_rm.prompts import PromptSpec

# The batch format, owned here: requests wrap items as format_item writes them, answers come back in blocks that
# format_answer writes. The teacher reads answers leniently (_ANSWER_RE); fakes split requests with split_items.
_ITEM_RE = re.compile(r"<item id=\"([^\"]+)\">\n(.*?)\n</item>", re.DOTALL)
_ANSWER_RE = re.compile(r"<answer\s+id\s*=\s*[\"']?([A-Za-z0-9_\-]+)[\"']?\s*>(.*?)</answer\s*>",
                        re.IGNORECASE | re.DOTALL)


def format_item(item_id: str, text: str) -> str:
    """One item of a batched request: `text` (a rendered user turn) inside `<item id="...">` ... `</item>`."""
    return f"<item id=\"{item_id}\">\n{text}\n</item>"


def split_items(text: str) -> list[tuple[str, str]]:
    """The (item id, item text) pairs of a batched request, in order; [] for a single-item request.

    The inverse of `format_item`, for fakes that answer batches (`testing.mock_server`, `demo.teacher`).

    >>> split_items(format_item("a1", "judge this") + "\\n\\n" + format_item("b2", "and this"))
    [('a1', 'judge this'), ('b2', 'and this')]
    """
    return _ITEM_RE.findall(text)


def format_answer(item_id: str, body: str) -> str:
    """One answer block of a batched reply, as the request asks for it: `<answer id="ID">body</answer>`.

    Readers strip the whitespace inside a block, so `body` may carry its own line breaks.
    """
    return f"<answer id=\"{item_id}\">{body}</answer>"


@dataclass(frozen=True)
class Item:
    """One response to be judged: the pair, which side (0 or 1), and the opaque id it carries in the request."""
    pair: Pair
    side: int  # which response of the pair (0 or 1)
    item_id: str


# Parse failures that asking again cannot fix: the same request is cut off or withheld the same way.
FINAL_PARSE_ERRORS = frozenset({"truncated", "blocked"})


@dataclass(frozen=True)
class ItemResult:
    """The teacher's verdict on one item.

    Attributes:
        text: the answer text for this item, or None.
        score: the parsed score, or None.
        parse_error: a `FAIL_REASONS` value, blocked, missing_id or duplicate_id; None when parsed.
        error: a request failure (after retries) or no usable answer block; retried on --resume.
        stop_reason: the provider's stop reason for the request that carried the item.
        blocked: why the provider withheld the answer (e.g. gemini:SAFETY), or None.
    """
    text: str | None
    score: float | None
    parse_error: str | None = None  # a FAIL_REASONS value, blocked, missing_id or duplicate_id
    error: str | None = None  # request failure (after retries) or no usable answer block; retried on --resume
    stop_reason: str | None = None  # the provider's stop/finish reason for the request that carried this item
    blocked: str | None = None  # why the provider withheld the answer, e.g. gemini:SAFETY


def content_hash(pair: Pair) -> str:
    """16 hex chars of sha256 over (context, response_0, response_1): which pair a record is about, whatever
    its position in the source files. Resume and build_sft_data check it against the pair a key points at."""
    h = hashlib.sha256()
    for part in (pair.context, pair.response_0, pair.response_1):
        h.update(part.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


def opaque_id(seed: int, key: str, salt: str) -> str:
    """A short id that reveals neither the side nor the label."""
    return hashlib.sha1(f"{seed}\x00{key}\x00{salt}".encode()).hexdigest()[:10]


def a_side(seed: int, key: str) -> int:
    """Which side of the pair is shown first (as A) in pairwise mode: a pure function of (seed, pair key)."""
    return hashlib.md5(f"ab\x00{seed}\x00{key}".encode()).digest()[0] & 1


def pair_items(pair: Pair, seed: int, pairwise: bool) -> list[Item]:
    """The two items of a pair, with ids that reveal neither side nor label.

    Pointwise: side 0 then side 1. Pairwise: the side shown first (`a_side(seed, key)`) gets id `<base>-A`,
    the other `<base>-B`.
    """
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
    body = "\n\n".join(format_item(it.item_id, _user_text(prompt, it)) for it in items)
    return prompt.system, f"{header}\n\n{body}"


def parse_answer(items: list[Item], text: str, prompt: PromptSpec, pairwise: bool, *, truncated: bool = False,
                 blocked: str | None = None, stop_reason: str | None = None) -> dict[str, ItemResult]:
    """item_id -> result. An item without exactly one matching answer block is a failure (an `error`, so a later
    --resume asks again); an answer without a valid score is a parse failure (`parse_error`, not retried).
    In a cut-off batch, an answer block that closed before the cut is whole; the ids after it are `truncated`."""
    parser = get_parser(prompt.parser)

    def score(body: str, cut: bool) -> ItemResult:
        """Parse one answer body into an `ItemResult` (`cut`: the answer was truncated)."""
        parsed = parser.explain(body, truncated=cut)
        return ItemResult(body, parsed.score, parsed.reason, stop_reason=stop_reason)

    if blocked:
        return {it.item_id: ItemResult(text, None, "blocked", stop_reason=stop_reason, blocked=blocked)
                for it in items}
    if len(items) == 1 and not pairwise:
        return {items[0].item_id: score(text, truncated)}
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
            out[it.item_id] = ItemResult(found[it.item_id], None, "duplicate_id", "duplicate_id: several answers",
                                         stop_reason)
        elif it.item_id in found:
            out[it.item_id] = score(found[it.item_id], False)
        elif truncated:
            out[it.item_id] = ItemResult(None, None, "truncated", stop_reason=stop_reason)
        else:
            out[it.item_id] = ItemResult(None, None, "missing_id", "missing_id: no answer block with this id",
                                         stop_reason)
    return out


def reasoning_of(text: str | None, reasoning_tag: str = "think") -> str:
    """The teacher's explanation: its text without reasoning blocks (nothing at all when one never closes) and
    without score tags, whitespace tidied. This, not the reasoning block, is what an SFT target may carry."""
    text = strip_reasoning(text, reasoning_tag) if text else None
    if not text:
        return ""
    stripped = strip_tags(text)
    lines = [" ".join(line.split()) for line in stripped.splitlines()]
    return "\n".join(line for line in lines if line).strip()


__all__ = ["FINAL_PARSE_ERRORS", "Item", "ItemResult", "a_side", "build_request", "content_hash", "format_answer",
           "format_item", "opaque_id", "pair_items", "parse_answer", "reasoning_of", "split_items"]
