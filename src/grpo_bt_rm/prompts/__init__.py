"""Judge prompt registry: `get_prompt(name).render(context, response)` gives the chat messages for one side.

    from grpo_bt_rm.prompts import get_prompt; get_prompt("hh_score100_v3").render(ctx, resp)
"""

from grpo_bt_rm.prompts import library as _library  # noqa: F401  (registers the built-in prompts)
from grpo_bt_rm.prompts.spec import ORDERS, PROMPTS, SCALES, PromptSpec, get_prompt, register_prompt

__all__ = ["ORDERS", "PROMPTS", "SCALES", "PromptSpec", "get_prompt", "register_prompt"]
