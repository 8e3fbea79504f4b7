"""Per-model token prices (USD per million tokens) for cost estimates; override with --price_in/--price_out.

    price_for("claude-sonnet-4-5-20250929")  # Price(input=3.0, output=15.0, cached_input=0.3, ...)

Models are matched by the longest known prefix of the model name; a model not in the table has no price (a
--dry_run then needs --price_in/--price_out, it never prices it as zero). Checked on 2026-11-30 against:
- Anthropic: the pricing page (platform.claude.com/docs/en/about-claude/pricing: base input, 5-minute cache
  writes, cache hits, output; Message Batches at 50% of input and output) and the Opus 5 / Sonnet 5 model pages.
- Google: ai.google.dev/gemini-api/docs/pricing as quoted by several dated third-party copies (the page itself
  was not reachable from here); paid tier, prompts up to 200k tokens; Batch API at 50%.
- OpenAI: developers.openai.com/api/docs/pricing as quoted by dated third-party copies (not reachable from
  here; it no longer lists the gpt-4.x family, which stays billable); Batch API at 50%.
`cached_input` is None where the cache-read price was not confirmed: cached tokens are then billed as input.
Tiered models (Claude Haiku 5.5 and Gemini 2.5 Pro above 200k prompt tokens) are priced at their low tier or
left out. Check before budgeting a large run.
"""

from __future__ import annotations

from typing import NamedTuple

PRICES_CHECKED = "2026-11-30"
BATCH_DISCOUNT = 0.5  # every provider's batch endpoint bills half the online price, input and output


class Price(NamedTuple):
    """A model's price in USD per million tokens (online; the batch API bills `BATCH_DISCOUNT` x these).

    Attributes:
        input: input tokens.
        output: output tokens (thinking included).
        cached_input: cache reads, or None where the table has no cache price.
        cache_write: Anthropic 5-minute cache writes, or None.
    """
    input: float
    output: float
    cached_input: float | None = None  # cache reads (Anthropic cache hits, OpenAI cached input)
    cache_write: float | None = None  # Anthropic 5-minute cache writes (1.25x input)


# prefix -> price, USD per million tokens (online; batch = BATCH_DISCOUNT x these)
PRICES: dict[str, Price] = {
    # Anthropic
    "claude-opus-5-5": Price(4.0, 20.0),
    "claude-opus-5": Price(5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-8": Price(5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-7": Price(5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-6": Price(5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-5": Price(5.0, 25.0, 0.50, 6.25),
    "claude-opus-4": Price(15.0, 75.0, 1.50, 18.75),  # Opus 4 and 4.1
    "claude-sonnet-5": Price(2.0, 10.0),  # Sonnet 5 and 5.5
    "claude-sonnet-4": Price(3.0, 15.0, 0.30, 3.75),  # Sonnet 4, 4.5, 4.6
    "claude-3-7-sonnet": Price(3.0, 15.0, 0.30, 3.75),
    "claude-haiku-4": Price(1.0, 5.0, 0.10, 1.25),  # Haiku 4.5
    "claude-3-5-haiku": Price(0.80, 4.0, 0.08, 1.0),
    "claude-3-haiku": Price(0.25, 1.25, 0.03, 0.30),
    # Google (paid tier, prompts <= 200k tokens; output includes thinking tokens)
    "gemini-2.5-pro": Price(1.25, 10.0),
    "gemini-2.5-flash-lite": Price(0.10, 0.40),
    "gemini-2.5-flash": Price(0.30, 2.50),
    "gemini-2.0-flash-lite": Price(0.075, 0.30),
    "gemini-2.0-flash": Price(0.10, 0.40),
    # OpenAI
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1": Price(2.0, 8.0, 0.50),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "gpt-4o": Price(2.50, 10.0, 1.25),
}


def price_for(model: str, price_in: float | None = None, price_out: float | None = None) -> Price | None:
    """The explicit prices if both are given, else the table's longest matching prefix, else None."""
    if price_in is not None or price_out is not None:
        if price_in is None or price_out is None:
            raise ValueError("--price_in and --price_out must be given together")
        return Price(float(price_in), float(price_out))
    name = model.rsplit("/", 1)[-1].lower()
    best = max((p for p in PRICES if name.startswith(p)), key=len, default=None)
    return PRICES[best] if best else None


def cost_usd(input_tokens: int, output_tokens: int, price: Price | None, cached_input_tokens: int = 0,
             batch: bool = False) -> float | None:
    """USD for these tokens; `cached_input_tokens` (part of input_tokens) at the cache-read price where known;
    `batch`: at the batch discount. None without a price."""
    if price is None:
        return None
    cached_rate = price.input if price.cached_input is None else price.cached_input
    total = ((input_tokens - cached_input_tokens) * price.input + cached_input_tokens * cached_rate
             + output_tokens * price.output) / 1e6
    return round(total * (BATCH_DISCOUNT if batch else 1.0), 6)
