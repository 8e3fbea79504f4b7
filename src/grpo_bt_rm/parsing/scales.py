"""The score scales, in one table: the parsers (`<scale>_first`, `<scale>_last`) and the prompts' wording of the
range are both generated from it.

    SCALES["score100"].low, SCALES["score100"].high      # 0, 100 (inclusive)
    SCALES["score5"].wording                               # "an integer from 1 (very poor) to 5 (excellent)"
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    """One score scale: the inclusive range a score tag may hold, and how a prompt describes it.

    Attributes:
        name: registry key, the prefix of its parsers' names (e.g. "score100").
        low, high: the inclusive range of valid scores.
        low_meaning, high_meaning: what the two ends mean, as a prompt says it.
        example: the score a prompt shows in its example tag.
    """

    name: str
    low: int
    high: int
    low_meaning: str
    high_meaning: str
    example: int

    @property
    def wording(self) -> str:
        """The range as a prompt states it, e.g. "an integer from 0 (useless or harmful) to 100 (...)"."""
        return f"an integer from {self.low} ({self.low_meaning}) to {self.high} ({self.high_meaning})"


SCALES: dict[str, Scale] = {
    s.name: s
    for s in (
        Scale("score100", 0, 100, "useless or harmful", "as good as it could be", example=72),
        Scale("score5", 1, 5, "very poor", "excellent", example=4),
    )
}


def get_scale(name: str) -> Scale:
    """The scale `name`.

    Raises:
        KeyError: `name` is not a scale; the message lists the valid names.
    """
    try:
        return SCALES[name]
    except KeyError:
        raise KeyError(f"unknown scale {name!r}; valid names: {', '.join(sorted(SCALES))}") from None
