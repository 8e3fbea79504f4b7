"""A noisy rule teacher for the demo task: a local, free stand-in for an API teacher such as GPT or Gemini.

    from grpo_bt_rm.demo.teacher import RuleTeacher; RuleTeacher().score(context, response)  # -> 0..100

It checks whether the reply names a member of the asked category (and slips now and then), but it is blind to
tone: a rude reply that names the right thing scores as high as a polite one, with a small bonus for length (the
verbosity bias real LLM judges show). So it agrees with the gold preference on only about three pairs in four,
and filtering its judgements down to the "correct" pairs cannot teach the politeness half of the rule. Scores
are deterministic functions of (seed, context, response), so reruns and resumes reproduce the same file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from grpo_bt_rm.demo.task import CATEGORIES, RUDE_MARKERS, category_of, check_line
from grpo_bt_rm.parsing import format_tag
from grpo_bt_rm.prompts import find_prompt
from grpo_bt_rm.teacher.tasks import format_answer, split_items

_WORD_RE = re.compile(r"[A-Za-z]+")


def asked_category(context: str) -> str | None:
    """The category a demo context asks for (the first category word in it), or None."""
    for w in _WORD_RE.findall(context):
        if w.lower() in CATEGORIES:
            return w.lower()
    return None


def named_word(response: str) -> str | None:
    """The first word of the response that belongs to some category, or None."""
    for w in _WORD_RE.findall(response):
        for cand in (w, w.lower(), w.capitalize()):
            if category_of(cand):
                return cand
    return None


def names_asked(context: str, response: str) -> bool:
    """The response names a member of the category the context asks for."""
    cat, word = asked_category(context), named_word(response)
    return cat is not None and word is not None and category_of(word) == cat


def is_rude(response: str) -> bool:
    """Whether the response contains one of the rude templates' markers (`RUDE_MARKERS`)."""
    return any(marker in response for marker in RUDE_MARKERS)


def gold_good(context: str, response: str) -> bool:
    """The gold rule: the response names a member of the asked category, and politely."""
    return names_asked(context, response) and not is_rude(response)


def _unit(*parts: str) -> float:
    """A deterministic pseudo-random number in [0, 1) from the given strings."""
    h = hashlib.sha256("\x00".join(parts).encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


@dataclass(frozen=True)
class RuleTeacher:
    """Scores one response on 0..100. `slip` is the chance of judging the category backwards."""

    slip: float = 0.06
    seed: int = 0

    def __post_init__(self):
        if not 0.0 <= self.slip <= 1.0:
            raise ValueError(f"slip must be in [0, 1], got {self.slip}")

    def score(self, context: str, response: str) -> int:
        """The teacher's score of `response` on 0..100, deterministic in (seed, context, response).

        A response that names what was asked for (tone ignored: the teacher's blind spot) scores 72 + its word count
        + up to 15 of jitter, at most 99; otherwise 5 to 24. With probability `slip` the verdict is flipped.
        """
        s = str(self.seed)
        jitter = _unit(s, "jitter", context, response)
        good = names_asked(context, response)  # blind spot: tone is ignored
        if _unit(s, "slip", context, response) < self.slip:
            good = not good
        if not good:
            return int(5 + 20 * jitter)
        n_words = len(_WORD_RE.findall(response))
        return int(min(99, 72 + n_words + 15 * jitter))


# --- the `rule` backend for scripts/teacher_generate.py -------------------------------------------------------
# Registered when this module is imported: `scripts/teacher_generate.py --plugin grpo_bt_rm.demo.teacher
# --backend rule --model rule-v1 ...`. It reads the pair texts back out of the rendered judge prompt with
# `prompts.find_prompt`, so it answers any registered prompt, single items and batched `<item id>` requests alike.


def judge_text(teacher: RuleTeacher, user_text: str) -> str:
    """The rule teacher's answer to one rendered judge prompt: the score tag on the prompt's scale, then a verdict.

    Args:
        teacher: the rule that scores (context, response) on 0..100.
        user_text: a user turn rendered by a registered prompt (or one `<item>` of a batch).

    Returns:
        The teacher's check (`task.check_line`, e.g. "names shovel, tool; asked color.") and the tag `<s>N</s>`, N
        the 0..100 rule score mapped linearly onto the prompt's scale (unchanged on score100): the check first, then
        the tag on its own line, for reason-first prompts; the tag first otherwise. A text without a tag when no
        registered prompt rendered `user_text` (a parse failure).
    """
    found = find_prompt(user_text)
    if found is None:
        return "I cannot find a registered judge prompt to answer."  # no tag: the pipeline counts a parse failure
    spec, context, response = found
    score = teacher.score(context, response)
    low, high = spec.score_range
    tag = format_tag(low + round((high - low) * score / 100))
    check = check_line(asked_category(context), named_word(response))  # its reasoning: blind to tone, like its score
    return f"{check}\n{tag}" if spec.order == "reason_first" else f"{tag} {check}"


class RuleBackend:
    """A teacher backend that answers with `RuleTeacher` scores; `--model rule-v1` or `rule-v1:slip=0.2:seed=3`."""

    def __init__(self, cfg):
        opts = dict(part.split("=", 1) for part in cfg.model.split(":")[1:] if "=" in part)
        try:
            self.teacher = RuleTeacher(slip=float(opts.get("slip", RuleTeacher.slip)),
                                       seed=int(opts.get("seed", RuleTeacher.seed)))
        except ValueError as e:
            raise ValueError(f"--model {cfg.model!r}: expected rule-v1[:slip=P][:seed=N] ({e})") from None

    async def complete(self, system, user, *, max_tokens, temperature):
        """Answer like a teacher API: one `<answer id>` block per batched item, or one plain answer;
        token counts are whitespace word counts.
        """
        from grpo_bt_rm.teacher.backends import Completion

        items = split_items(user)
        if items:
            text = "\n".join(format_answer(iid, judge_text(self.teacher, body)) for iid, body in items)
        else:
            text = judge_text(self.teacher, user)
        return Completion(text, len(user.split()), len(text.split()))

    async def aclose(self):
        """Nothing to close."""
        return None


def _register() -> None:
    from grpo_bt_rm.teacher.backends import BACKENDS, BackendSpec, register_backend

    if "rule" not in BACKENDS:
        register_backend(BackendSpec("rule", RuleBackend, key_envs=(), needs_key=False))


_register()
