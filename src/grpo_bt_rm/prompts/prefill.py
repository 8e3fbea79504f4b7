"""The assistant pre-fill (ms-swift `--response_prefix`): the text a rollout or an eval continues from.

    unescape_prefix("<think>\\\\n\\\\n</think>\\\\n\\\\n")   # the "\\n" -> newline rule ms-swift applies to the flag
    response_prefix_of(template)                      # what a built ms-swift template puts before the answer

A judge's whole answer is prefix + generated continuation; parsers read the whole answer (`<s>` + `72</s>` = 72).
"""

from __future__ import annotations


def unescape_prefix(text: str | None) -> str | None:
    """A prefix as typed on a command line, with ms-swift's own rule applied: the two characters backslash-n are a
    newline (ms-swift's TemplateArguments do the same to --response_prefix)."""
    return None if text is None else text.replace("\\n", "\n")


def prefix_warning(prefix: str | None, order: str, position: str) -> str | None:
    """Why a pre-fill that opens the score tag (e.g. `<s>`) defeats this prompt order / parser position, or None.

    Measured on SmolLM2-135M: with `<s>` and a reason-first prompt the judge closes the tag at once and never
    reasons; a `_last` parser then reads that first tag as the final one."""
    if not prefix or not prefix.rstrip().lower().endswith("<s>"):
        return None
    if order == "reason_first":
        return (f"response prefix {prefix!r} opens the score tag, so a reason-first prompt's reasoning never happens "
                "(the judge writes the score at once); use it with score-first or score-only prompts")
    if position == "last":
        return f"response prefix {prefix!r} opens the score tag: a _last parser will read that first tag as final"
    return None


def response_prefix_of(template) -> str | None:
    """The pre-fill a built ms-swift template adds after the generation prompt: its `response_prefix`, else the
    template's own thinking / non-thinking prefix (e.g. Qwen3's empty think block); None when there is none."""
    try:
        prefix = template._get_response_prefix()  # ms-swift 4.6.0 (pinned exactly): the rule its encoder uses
    except (AttributeError, TypeError):
        prefix = getattr(template, "response_prefix", None)
    return prefix or None
