"""ms-swift plugin for the eval tests: a cheap reward, and a hook that records every prompt the GRPO rollout encodes.

Loaded with `swift rlhf --external_plugins`; with $GBR_RECORD_PROMPTS set, each prompt that the trainer's rollout
engine encodes (template mode 'transformers') is appended there as {"messages", "input_ids", "text"}.
"""

import dataclasses
import json
import os

from swift.rewards import orms
from swift.template import Template


class LengthParity:
    """Reward 1 for an even-length completion: any signal, so GRPO takes real optimizer steps."""

    def __init__(self, args=None, **kwargs):
        pass

    def __call__(self, completions, **kwargs):
        return [float(len(c) % 2 == 0) for c in completions]


orms["gbr_test_length_parity"] = LengthParity

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
