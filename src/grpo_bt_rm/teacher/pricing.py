"""Per-model token prices (USD per million tokens) for cost estimates; override with --price_in/--price_out.

Prices are list prices as published by the providers when this table was written; check them before
budgeting a large run. Models are matched by the longest known prefix of the model name.
"""

from __future__ import annotations

# prefix -> (input $/Mtok, output $/Mtok)
PRICES: dict[str, tuple[float, float]] = {
    "claude-opus-4": (15.0, 75.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-3-5-sonnet": (3.0, 15.0),
    "claude-haiku-4": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "gemini-2.5-pro": (1.25, 10.0),
    "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.0-flash": (0.10, 0.40),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.0),
}


def price_for(model: str, price_in: float | None = None, price_out: float | None = None) -> tuple[float, float] | None:
    """(in, out) $/Mtok: the explicit prices if both are given, else the table's longest matching prefix."""
    if price_in is not None or price_out is not None:
        if price_in is None or price_out is None:
            raise ValueError("--price_in and --price_out must be given together")
        return float(price_in), float(price_out)
    name = model.rsplit("/", 1)[-1].lower()
    best = max((p for p in PRICES if name.startswith(p)), key=len, default=None)
    return PRICES[best] if best else None


def cost_usd(input_tokens: int, output_tokens: int, price: tuple[float, float] | None) -> float | None:
    if price is None:
        return None
    return round(input_tokens * price[0] / 1e6 + output_tokens * price[1] / 1e6, 6)
