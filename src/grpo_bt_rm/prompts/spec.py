"""PromptSpec: one judge prompt (name, version, family, scale, order, default parser) and its registry.

    spec = get_prompt("hh_score100_v1"); user = spec.render(ctx, resp)[-1]["content"]; spec.match(user)  # (ctx, resp)
"""

from __future__ import annotations

import functools
import re
import string
from dataclasses import dataclass

from grpo_bt_rm.parsing import SCALES
from grpo_bt_rm.registry import Registry

ORDERS = ("score_first", "reason_first", "score_only")
FAMILIES = ("sff", "hh", "generic")


@dataclass(frozen=True)
class PromptSpec:
    """A versioned judge prompt: its wording, the scale it asks for and the parser that reads the answer.

    Attributes:
        name: the registry name.
        version: bumped whenever the wording changes (recorded in datasets and results).
        family: the data family it suits, one of `FAMILIES`.
        scale: a key of `parsing.SCALES`.
        order: where the score comes relative to the reasoning, one of `ORDERS`.
        parser: the name of the parser that reads its answers.
        template: a `str.format` template with `{context}` and `{response}`.
        system: an optional system prompt.
        description: one line for listings.

    Raises:
        ValueError: an unknown scale, order or family, or a template without `{context}` and `{response}`.
    """
    name: str
    version: int
    family: str
    scale: str
    order: str
    parser: str
    template: str  # str.format template with {context} and {response}
    system: str | None = None
    description: str = ""

    def __post_init__(self):
        if self.scale not in SCALES:
            raise ValueError(f"prompt {self.name!r}: scale must be one of {sorted(SCALES)}, got {self.scale!r}")
        if self.order not in ORDERS:
            raise ValueError(f"prompt {self.name!r}: order must be one of {ORDERS}, got {self.order!r}")
        if self.family not in FAMILIES:
            raise ValueError(f"prompt {self.name!r}: family must be one of {FAMILIES}, got {self.family!r}")
        if "{context}" not in self.template or "{response}" not in self.template:
            raise ValueError(f"prompt {self.name!r}: template needs {{context}} and {{response}}")

    @property
    def score_range(self) -> tuple[int, int]:
        """(low, high): the inclusive range of this prompt's scale (`grpo_bt_rm.parsing.SCALES`)."""
        return SCALES[self.scale].low, SCALES[self.scale].high

    def render(self, context: str, response: str) -> list[dict[str, str]]:
        """Chat messages for judging `response` given `context`: an optional system turn, then the user turn."""
        user = self.template.format(context=context.strip(), response=response.strip())
        messages = [{"role": "system", "content": self.system}] if self.system else []
        messages.append({"role": "user", "content": user})
        return messages

    def match(self, text: str) -> tuple[str, str] | None:
        """The inverse of `render`: (context, response) if `text` contains a user turn this prompt rendered.

        Fakes use it to read back what they are asked to judge without knowing any prompt's wording.

        Args:
            text: a user turn, or a longer text with one inside (e.g. an `<item>` body or system + user).

        Returns:
            (context, response) as rendered (stripped), or None when the text is not this prompt's.
        """
        m = _template_re(self.template).search(text)
        return (m.group("context"), m.group("response")) if m else None


@functools.cache
def _template_re(template: str) -> re.Pattern:
    """A pattern matching `template` rendered with any context and response (named groups)."""
    pieces = list(string.Formatter().parse(template))
    parts = []
    for i, (literal, field, _spec, _conv) in enumerate(pieces):
        parts.append(re.escape(literal))
        if field is not None:  # a field that ends the template runs to the end of the text
            parts.append(f"(?P<{field}>.*)" if i == len(pieces) - 1 else f"(?P<{field}>.*?)")
    return re.compile("".join(parts), re.DOTALL)


PROMPTS: Registry[PromptSpec] = Registry("prompt")


def register_prompt(spec: PromptSpec) -> PromptSpec:
    """Add `spec` to `PROMPTS` under its name and return it.

    Raises:
        ValueError: a prompt with that name is already registered.
    """
    return PROMPTS.add(spec.name, spec)


def get_prompt(name: str) -> PromptSpec:
    """The registered prompt `name`.

    Raises:
        KeyError: no such prompt; the message lists the valid names.
    """
    return PROMPTS.get(name)


def find_prompt(text: str) -> tuple[PromptSpec, str, str] | None:
    """Which registered prompt rendered `text`, and the (context, response) it was rendered with.

    Args:
        text: a user turn (or a text containing one), e.g. what a teacher request or an `<item>` carries.

    Returns:
        (spec, context, response) of the first registered prompt (by name) that matches, or None.
    """
    for name in PROMPTS:
        spec = PROMPTS.get(name)
        found = spec.match(text)
        if found is not None:
            return spec, *found
    return None
