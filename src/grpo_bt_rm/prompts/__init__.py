"""Judge prompt registry: `get_prompt(name).render(context, response)` gives the chat messages for one side.

    from grpo_bt_rm.prompts import get_prompt; get_prompt("hh_score100_v3").render(ctx, resp)
"""

from grpo_bt_rm.prompts.library import default_prompt  # importing library registers the built-in prompts
from grpo_bt_rm.prompts.spec import (
    FAMILIES,
    ORDERS,
    PROMPTS,
    SCALES,
    PromptSpec,
    find_prompt,
    get_prompt,
    register_prompt,
)

__all__ = ["FAMILIES", "ORDERS", "PROMPTS", "SCALES", "PromptSpec", "default_prompt", "find_prompt", "get_prompt",
           "register_prompt"]
