"""PromptSpec: one judge prompt (name, version, family, scale, order, default parser) and its registry."""

from __future__ import annotations

from dataclasses import dataclass

from grpo_bt_rm.registry import Registry

SCALES = {"score100": (0, 100), "score5": (1, 5)}
ORDERS = ("score_first", "reason_first", "score_only")
FAMILIES = ("sff", "hh", "generic")


@dataclass(frozen=True)
class PromptSpec:
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
        return SCALES[self.scale]

    def render(self, context: str, response: str) -> list[dict[str, str]]:
        """Chat messages for judging `response` given `context`: an optional system turn, then the user turn."""
        user = self.template.format(context=context.strip(), response=response.strip())
        messages = [{"role": "system", "content": self.system}] if self.system else []
        messages.append({"role": "user", "content": user})
        return messages


PROMPTS: Registry[PromptSpec] = Registry("prompt")


def register_prompt(spec: PromptSpec) -> PromptSpec:
    return PROMPTS.add(spec.name, spec)


def get_prompt(name: str) -> PromptSpec:
    return PROMPTS.get(name)
