"""The built-in judge prompts: summarize-from-feedback (`score*`), dialogue (`hh_*`) and generic (`generic_*`).

Styles: v1 score-first with a short justification, v2 concise score-first, v3 reason-first (analysis, then the
tag on the last line), v4 pros-and-cons first, `scoreonly` the tag alone.
"""

from __future__ import annotations

from grpo_bt_rm.parsing import SCALES, format_tag
from grpo_bt_rm.prompts.spec import FAMILIES, PromptSpec, get_prompt, register_prompt

_SUBJECT = {
    "sff": (
        "You will read a Reddit post and a candidate summary of it. Judge how well the summary captures the "
        "post's key points: accuracy, coverage of what matters, and concision.",
        "POST:\n{context}\n\nSUMMARY:\n{response}",
    ),
    "hh": (
        "You will read a conversation between a human and an AI assistant, followed by the assistant's next "
        "reply. Judge the reply: is it helpful, honest and harmless, and does it respond to what the human "
        "actually asked?",
        "CONVERSATION:\n{context}\n\nASSISTANT REPLY:\n{response}",
    ),
    "generic": (
        "You will read a user request and a candidate response. Judge how good the response is: correctness, "
        "helpfulness, and whether it does what was asked.",
        "REQUEST:\n{context}\n\nRESPONSE:\n{response}",
    ),
}

_STYLE = {
    "v1": (
        "score_first",
        "Write the score first as {example}, with {scale}. Then explain your score in two to four sentences.",
    ),
    "v2": (
        "score_first",
        "Start your reply with the score first, as {example}, with {scale}, then add one short sentence of justification.",
    ),
    "v3": (
        "reason_first",
        "First reason step by step about the strengths and weaknesses you see. Then, on the last line, give the "
        "score as {example}, with {scale}. Write nothing after the tag.",
    ),
    "v4": (
        "reason_first",
        "First list the pros, then the cons, one short bullet each. Weigh them, and on the last line give the "
        "score as {example}, with {scale}. Write nothing after the tag.",
    ),
    "scoreonly": (
        "score_only",
        "Reply with the score tag only, as {example}, with {scale}. Do not write anything else.",
    ),
}

_PARSER_POS = {"score_first": "first", "reason_first": "last", "score_only": "first"}


def _make(name: str, family: str, scale: str, style: str) -> PromptSpec:
    intro, body = _SUBJECT[family]
    order, instruction = _STYLE[style]
    instruction = instruction.format(example=format_tag(SCALES[scale].example), scale=SCALES[scale].wording)
    # The instruction comes before and after the material, so long contexts do not bury it.
    template = f"{intro}\n\n{body}\n\n{instruction}"
    version = 1 if style == "scoreonly" else int(style[1:])
    return register_prompt(
        PromptSpec(
            name=name,
            version=version,
            family=family,
            scale=scale,
            order=order,
            parser=f"{scale}_{_PARSER_POS[order]}",
            template=template,
            description=f"{family} judge, {scale}, {order} ({style})",
        )
    )


# Summarize-from-feedback judge.
_make("score100_v1", "sff", "score100", "v1")
for _v in ("v1", "v2", "v3", "v4"):
    _make(f"score5_{_v}", "sff", "score5", _v)

# Dialogue (HH-RLHF) judge.
for _scale in ("score100", "score5"):
    for _v in ("v1", "v2", "v3", "v4"):
        _make(f"hh_{_scale}_{_v}", "hh", _scale, _v)
_make("hh_score100_scoreonly", "hh", "score100", "scoreonly")

# Generic request/response judge (UltraFeedback, Stack Exchange, private pairs).
for _scale in ("score100", "score5"):
    for _v in ("v1", "v3"):
        _make(f"generic_{_scale}_{_v}", "generic", _scale, _v)
_make("generic_score100_scoreonly", "generic", "score100", "scoreonly")

# A terse generic score-only prompt: a fraction of the tokens, for tiny judges on CPU (the `make demo` judge).
register_prompt(
    PromptSpec(
        name="generic_score100_brief",
        version=1,
        family="generic",
        scale="score100",
        order="score_only",
        parser="score100_first",
        # Instruction first, response last: the text to judge sits right before the answer.
        template=f"Does the response do what was asked? Reply only with a score tag from {format_tag(0)} (no) to "
                 f"{format_tag(100)} (fully).\n\nREQUEST:\n{{context}}\n\nRESPONSE:\n{{response}}",
        description="generic judge, score100, score_only, terse (for tiny CPU judges)",
    )
)

# The same terse prompt, reason-first: one line of checking (what the reply names, what was asked), then the tag.
# The `make demo` judge: its tiny model cannot compare the request with the reply in one step, but it can write the
# check and score from it (docs/bench_demo.md, round 4).
register_prompt(
    PromptSpec(
        name="generic_score100_check",
        version=1,
        family="generic",
        scale="score100",
        order="reason_first",
        parser="score100_last",
        template=f"Does the response do what was asked? Write one line of checking, then on the last line a score tag from "
                 f"{format_tag(0)} (no) to {format_tag(100)} (fully).\n\nREQUEST:\n{{context}}\n\nRESPONSE:\n"
                 f"{{response}}",
        description="generic judge, score100, reason_first, terse: one line of checking, then the tag (tiny CPU judges)",
    )
)


# The prompt every stage uses when none is named: the family's score-first v1 prompt on the scale asked for.
_FAMILY_PREFIX = {"sff": "", "hh": "hh_", "generic": "generic_"}


def default_prompt(family: str, scale: str = "score100") -> PromptSpec:
    """The default judge prompt for a dataset family (an adapter's `family`) on a score scale.

    Used by build_dataset, eval_bt and the teacher whenever --prompt is not given, so a Reddit-summary prompt
    never judges dialogues.

    Args:
        family: "sff", "hh" or "generic" (`grpo_bt_rm.prompts.FAMILIES`).
        scale: a key of `grpo_bt_rm.parsing.SCALES`.

    Returns:
        The registered PromptSpec, e.g. `hh_score100_v1` for ("hh", "score100").

    Raises:
        KeyError: unknown family or scale; the message lists the valid ones.

    >>> default_prompt("hh").name, default_prompt("sff", "score5").name
    ('hh_score100_v1', 'score5_v1')
    """
    if family not in FAMILIES:
        raise KeyError(f"unknown prompt family {family!r}; valid: {', '.join(FAMILIES)}")
    if scale not in SCALES:
        raise KeyError(f"unknown scale {scale!r}; valid: {', '.join(sorted(SCALES))}")
    return get_prompt(f"{_FAMILY_PREFIX[family]}{scale}_v1")
