"""ms-swift plugin for the eval tests: a cheap reward, and a hook that records every prompt the GRPO rollout encodes.

Loaded with `swift rlhf --external_plugins`; with $GBR_RECORD_PROMPTS set, each prompt that the trainer's rollout
engine encodes (template mode 'transformers') is appended there as {"messages", "input_ids", "text"}.
"""

import dataclasses
import json
import os
import re

from swift.rewards import orms
from swift.template import Template


class TagScore:
    """Reward = the parsed <s>NN</s> score / 100 (0 without a tag): the warm model samples varied scores, so the
    advantages are non-zero and the LoRA weights really move (a constant reward would leave lora_B at zero)."""

    def __init__(self, args=None, **kwargs):
        pass

    def __call__(self, completions, **kwargs):
        out = []
        for c in completions:
            m = re.search(r"<s>\s*(\d+)\s*</s>", c)
            out.append(min(float(m.group(1)), 100.0) / 100.0 if m else 0.0)
        return out


orms["gbr_test_tag_score"] = TagScore

_encode = Template.encode


def _recording_encode(self, inputs, *args, **kwargs):
    out = _encode(self, inputs, *args, **kwargs)
    path = os.environ.get("GBR_RECORD_PROMPTS")
    if path and self.mode == "transformers" and isinstance(out, dict) and "input_ids" in out:
        raw = dataclasses.asdict(inputs) if dataclasses.is_dataclass(inputs) else inputs
        messages = raw.get("messages") if isinstance(raw, dict) else None
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"messages": messages, "input_ids": list(out["input_ids"]),
                                "text": self.safe_decode(out["input_ids"])}) + "\n")
    return out


Template.encode = _recording_encode
