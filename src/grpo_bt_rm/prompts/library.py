"""The built-in judge prompts: summarize-from-feedback (`score*`), dialogue (`hh_*`) and generic (`generic_*`).

Styles: v1 score-first with a short justification, v2 concise score-first, v3 reason-first (analysis, then the
tag on the last line), v4 pros-and-cons first, `scoreonly` the tag alone.
"""

from __future__ import annotations

from grpo_bt_rm.prompts.spec import PromptSpec, register_prompt

_SCALE_TEXT = {
    "score100": "an integer from 0 (useless or harmful) to 100 (as good as it could be)",
    "score5": "an integer from 1 (very poor) to 5 (excellent)",
}
_EXAMPLE = {"score100": "<s>72</s>", "score5": "<s>4</s>"}

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
    instruction = instruction.format(example=_EXAMPLE[scale], scale=_SCALE_TEXT[scale])
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
        template="Does the response do what was asked? Reply only with a score tag from <s>0</s> (no) to "
                 "<s>100</s> (fully).\n\nREQUEST:\n{context}\n\nRESPONSE:\n{response}",
        description="generic judge, score100, score_only, terse (for tiny CPU judges)",
    )
)
