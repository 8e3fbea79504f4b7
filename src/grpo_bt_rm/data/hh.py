"""Anthropic HH-RLHF transcripts: split `\\n\\nHuman: ` / `\\n\\nAssistant: ` turns, derive context + response."""

from __future__ import annotations

import re

from grpo_bt_rm.data.pairs import Drop

_TURN_RE = re.compile(r"(?:^|\n\n)(Human|Assistant):[ \t]?")


def split_turns(transcript: str) -> list[tuple[str, str]]:
    """[(role, text), ...] in order. Text before the first marker must be blank, else the transcript is malformed."""
    parts = _TURN_RE.split(transcript)
    # parts = [lead, role1, text1, role2, text2, ...]
    if parts[0].strip():
        raise Drop("malformed_transcript")
    return [(parts[i], parts[i + 1].strip()) for i in range(1, len(parts), 2)]


def render_context(turns: list[tuple[str, str]]) -> str:
    """Join `(role, text)` turns as `"Role: text"` blocks separated by blank lines.

    >>> print(render_context([("Human", "hi"), ("Assistant", "hello")]))
    Human: hi
    <BLANKLINE>
    Assistant: hello
    """
    return "\n\n".join(f"{role}: {text}" for role, text in turns)


def hh_pair(chosen: str, rejected: str) -> tuple[str, str, str]:
    """(context, chosen_response, rejected_response), or Drop with the reason."""
    c_turns, r_turns = split_turns(chosen), split_turns(rejected)
    if not c_turns or not r_turns or c_turns[-1][0] != "Assistant" or r_turns[-1][0] != "Assistant":
        raise Drop("no_final_assistant")
    if c_turns[:-1] != r_turns[:-1]:
        raise Drop("prefix_mismatch")
    c_resp, r_resp = c_turns[-1][1], r_turns[-1][1]
    if not c_resp or not r_resp:
        raise Drop("empty_response")
    if c_resp == r_resp:
        raise Drop("identical")
    return render_context(c_turns[:-1]), c_resp, r_resp
